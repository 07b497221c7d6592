"""Connect and disconnect: authenticate the socket once, greet it, run domain clean-ups."""

from __future__ import annotations

import logging
from typing import Any

import socketio
from socketio.exceptions import ConnectionRefusedError as Refused

from auth.addresses import TrustedProxies, parse_proxies
from handlers.context import Deps, sign_in_socket
from handlers.helpdesk import RESUME_TICKETS, resume_tickets
from handlers.sio_handshake import FORWARDED_FOR, REMOTE_ADDR
from handlers.widget import connect_widget, is_widget_auth
from models.chat import MY_RESPONSE, ChatResponse
from models.errors import DesklineError

log = logging.getLogger("deskline.connection")

WELCOME = ChatResponse(data="Welcome to Dowell Chat", count=0)


def client_address(environ: dict[str, Any], proxies: TrustedProxies) -> str:
    """Return the address of the connecting client (behind a trusted proxy: the one it forwarded for)."""
    forwarded = environ.get(FORWARDED_FOR)
    return proxies.client(str(environ.get(REMOTE_ADDR, "")), [forwarded] if isinstance(forwarded, str) else [])


def setup(deps: Deps) -> None:
    """Register connect and disconnect."""
    sio: socketio.AsyncServer = deps.sio
    proxies = TrustedProxies(parse_proxies(deps.settings.trusted_proxies))

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        session = await sio.get_session(sid)
        session["address"] = client_address(environ, proxies)
        if is_widget_auth(auth):  # a visitor's widget: never a signed-in principal
            await connect_widget(deps, sid, session, environ, auth)
            await deps.session_changed(sid, session)
            return
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is not None:
            if not isinstance(token, str) or not token:
                raise Refused("auth.token must be a non-empty string", {"code": "unauthorized"})
            try:
                principal, grant = await deps.accounts.current_session(token, deps.clock())
            except DesklineError as err:
                log.info("event=connect sid=%s code=%s reason=%s", sid, err.code, err.message)
                raise Refused(err.message, {"code": str(err.code)}) from err
            await sign_in_socket(sio, sid, session, principal, grant)
            session[RESUME_TICKETS] = resume_tickets(auth)  # a reconnecting frontend's open tickets (restart)
        await deps.emitter.push(MY_RESPONSE, WELCOME, to=sid)
        await deps.session_changed(sid, session)

    @sio.on("disconnect")
    async def disconnect(sid: str, reason: Any = None) -> None:
        try:
            session = await sio.get_session(sid)
        except KeyError:
            session = {}
        for hook in deps.disconnect_hooks:
            try:
                await hook(sid, session)
            except Exception:
                log.exception("event=disconnect sid=%s code=internal", sid)
