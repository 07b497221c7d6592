"""Account recovery events (password reset, SMS login code) and the reset link's small web page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from handlers.access import ANONYMOUS
from handlers.accounts import end_sessions, end_sessions_from
from handlers.context import DEPS_KEY, Deps, EventContext
from handlers.events import EventRouter, parse_payload
from handlers.http import http_status
from models.accounts import TokenPair
from models.errors import DesklineError, InvalidPayload
from models.recovery import (
    LoginWithCodePayload,
    RequestLoginCodePayload,
    RequestPasswordResetPayload,
    ResetPasswordPayload,
)
from notify.templates import render_html
from services.bundle import Services
from services.recovery import CODE_TTL, RESET_TTL

RESET_ACK = "if an account has this email, a reset link is on its way"
CODE_ACK = "if an account has this number, a code is on its way"
PASSWORD_CHANGED = "password changed"


async def reset(deps: Deps, payload: ResetPasswordPayload, caller: EventContext | None = None) -> bool:
    """Reset the password and end every session of the account; return whether ``caller`` was signed out."""
    user = await deps.services.recovery.reset_password(payload.token, payload.new_password, deps.services.clock())
    if caller is None:  # the emailed link's form
        await end_sessions(deps, user.id, PASSWORD_CHANGED)
        return False
    return (await end_sessions_from(caller, user.id, PASSWORD_CHANGED))[1]


def register(router: EventRouter, services: Services) -> None:
    """Declare the recovery events."""
    recovery, clock = services.recovery, services.clock

    @router.on("request_password_reset", RequestPasswordResetPayload, access=ANONYMOUS, signs_in=True)
    async def request_password_reset(ctx: EventContext, p: RequestPasswordResetPayload) -> dict[str, Any]:
        await recovery.request_password_reset(p.email, ctx.address, clock())
        return {"message": RESET_ACK, "expires_in": int(RESET_TTL.total_seconds())}

    @router.on("reset_password", ResetPasswordPayload, access=ANONYMOUS, signs_in=True)
    async def reset_password(ctx: EventContext, p: ResetPasswordPayload) -> dict[str, Any]:
        return {"reset": True, "signed_out": await reset(ctx.deps, p, ctx)}

    @router.on("request_login_code", RequestLoginCodePayload, access=ANONYMOUS, signs_in=True)
    async def request_login_code(ctx: EventContext, p: RequestLoginCodePayload) -> dict[str, Any]:
        phone = await recovery.request_login_code(p.phone, ctx.address, clock())
        return {"message": CODE_ACK, "phone": phone, "expires_in": int(CODE_TTL.total_seconds())}

    @router.on("login_with_code", LoginWithCodePayload, access=ANONYMOUS, signs_in=True)
    async def login_with_code(ctx: EventContext, p: LoginWithCodePayload) -> TokenPair:
        now = clock()
        pair = await recovery.login_with_code(p.phone, p.code, now)
        await ctx.sign_in(*services.accounts.session_of(pair, now))
        return pair


def add_routes(app: web.Application) -> None:
    """Serve the page the reset email links to: a form that posts the new password."""
    app.router.add_get("/reset-password", reset_page)
    app.router.add_post("/reset-password", reset_submit)


def _page(message: str, token: str | None = None, status: int = 200) -> web.Response:
    form = render_html("reset_form", token=token) if token else ""
    body = render_html("reset_page", raw=frozenset({"form"}), message=message, form=form)
    headers = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    return web.Response(text=body, content_type="text/html", status=status, headers=headers)


def _failed(err: DesklineError, token: str | None = None) -> web.Response:
    """Return the page saying why ``err`` happened, with the HTTP status of the one map (``handlers.http``)."""
    problems = "; ".join(d.get("message", "") for d in err.details or [] if isinstance(d, dict))
    message = f"{err.message}: {problems}" if problems else err.message
    return _page(message, token, status=http_status(err))


async def reset_page(request: web.Request) -> web.Response:
    """Show the new-password form for the link's token."""
    token = request.query.get("token", "").strip()
    if not token:
        return _failed(InvalidPayload("This link has no reset token. Ask for a new reset email."))
    return _page("Choose a new password for your Deskline account.", token)


async def reset_submit(request: web.Request) -> web.Response:
    """Reset the password from the form; a bad token or password shows why."""
    deps = request.app[DEPS_KEY]
    form = await request.post()
    values = {k: form.get(k) for k in ("token", "new_password")}
    try:
        payload = parse_payload(ResetPasswordPayload, {k: v for k, v in values.items() if isinstance(v, str)})
        await reset(deps, payload)
    except DesklineError as err:
        return _failed(err, values["token"] if isinstance(values["token"], str) else None)
    return _page("Your password is changed. Sign in with it; every other session was signed out.")
