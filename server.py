"""Deskline: the aiohttp app and its Socket.IO server (wiring only)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import socketio
from aiohttp import hdrs, web

import handlers
from auth.passwords import Passwords
from config import Settings, describe_settings
from handlers import codec
from handlers.context import DB_KEY, DEPS_KEY, SETTINGS_KEY, Deps
from handlers.cors import cors_middleware, warn_about_wildcard
from handlers.sio_engine import DirectEmitManager, DirectEmitRedisManager
from handlers.sio_server import DesklineServer
from models.clock import Clock
from models.common import utc_now
from models.roles import Role
from services.accounts import AccountService
from storage import open_database
from storage.accounts import make_account_store
from wiring import build_deps

VERSION = "0.1.0"
SHUTDOWN_GRACE_SECONDS = 3
log = logging.getLogger("deskline")

SIO_KEY = web.AppKey("sio", socketio.AsyncServer)  # a DesklineServer


def create_app(settings: Settings, clock: Clock = utc_now) -> web.Application:
    """Return the Deskline application; resources open when it starts, not before."""
    warn_about_wildcard(settings)
    middlewares = [cors_middleware(settings.cors_list())]
    if not settings.websocket_compression:
        middlewares.append(no_websocket_compression)
    app = web.Application(middlewares=middlewares)
    client_manager = (
        DirectEmitRedisManager(settings.redis_url, channel=settings.redis_channel)
        if settings.redis_url
        else DirectEmitManager()
    )
    sio = DesklineServer(
        async_mode="aiohttp",
        client_manager=client_manager,
        send_backlog=settings.send_backlog,
        json=codec,
        cors_allowed_origins=settings.cors_list(),
        cors_credentials=settings.cors_credentials(),
        max_http_buffer_size=settings.max_payload_bytes * 4,
    )
    sio.attach(app, socketio_path="socket.io")
    app[SETTINGS_KEY] = settings
    app[SIO_KEY] = sio
    app.router.add_get("/health", health)
    handlers.add_all_routes(app)
    app.on_shutdown.append(_disconnect_sockets)
    app.cleanup_ctx.append(_resources(settings, sio, clock))
    return app


async def _disconnect_sockets(app: web.Application) -> None:
    """Disconnect every socket and stop Socket.IO's tasks before aiohttp waits for open connections."""
    sio = app[SIO_KEY]
    closing = [
        asyncio.create_task(socket.close(reason=sio.eio.reason.SERVER_DISCONNECT))
        for socket in list(sio.eio.sockets.values())
    ]
    if closing:
        # A socket whose client already went away never drains its queue: don't wait on it forever.
        _, stuck = await asyncio.wait(closing, timeout=SHUTDOWN_GRACE_SECONDS)
        for task in stuck:
            task.cancel()
    sio.eio.sockets = {}
    if sio.eio.service_task_handle is not None:
        await sio.shutdown()


def _resources(settings: Settings, sio: socketio.AsyncServer, clock: Clock):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(settings)
        redis = None
        deps: Deps | None = None
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
        try:
            deps = await build_deps(settings, sio, db, clock, redis)
            await handlers.register_all(deps)
            app[DB_KEY] = db
            app[DEPS_KEY] = deps
            log.info("event=started storage=%s redis=%s", db.kind, bool(redis))
            yield
        finally:
            if deps is not None:
                await deps.shutdown()
            if redis is not None:
                await redis.aclose()
            await db.close()
            log.info("event=stopped")

    return context


@web.middleware
async def no_websocket_compression(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Drop the client's permessage-deflate offer so aiohttp never negotiates it."""
    if hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
        headers = request.headers.copy()
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    """Report liveness, the storage backend and whether Redis is in use; 503 if storage is down."""
    settings = request.app[SETTINGS_KEY]
    db = request.app.get(DB_KEY)
    storage_ok = db is not None and await db.ping()
    body = {
        "status": "ok" if storage_ok else "unavailable",
        "version": VERSION,
        "storage": settings.storage_kind,
        "redis": bool(settings.redis_url),
    }
    return web.json_response(body, status=200 if storage_ok else 503)


async def create_admin(settings: Settings, email: str, password: str, name: str) -> None:
    """Create the first administrator account."""
    from handlers.events import parse_payload
    from models.accounts import CreateUserPayload

    payload = parse_payload(CreateUserPayload, {"email": email, "password": password, "name": name, "role": "admin"})
    db = await open_database(settings)
    try:
        store = make_account_store(db)
        await store.init()
        service = AccountService(store, Passwords.from_settings(settings), None, 0, timedelta())  # type: ignore[arg-type]
        user = await service.create(payload.email, None, payload.name, payload.password, Role.ADMIN, utc_now())
        print(f"admin created: id={user.id} email={user.email}")
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> None:
    """Run the server, or a maintenance command."""
    parser = argparse.ArgumentParser(
        prog="server.py",
        description="Deskline real-time support and queue server.",
        epilog=describe_settings(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    admin = commands.add_parser("create-admin", help="create an administrator account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--name", default="Administrator")
    args = parser.parse_args(argv)

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    if args.command == "create-admin":
        try:
            asyncio.run(create_admin(settings, args.email, args.password, args.name))
        except Exception as exc:
            print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
            if getattr(exc, "details", None):
                print(f"details: {exc.details}", file=sys.stderr)
            raise SystemExit(2) from exc
        return
    loop_factory = _uvloop_factory()
    app = create_app(settings)
    app.on_startup.append(_stop_on_first_signal)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=lambda text: log.info("event=listening host=%s port=%s", settings.host, settings.port),
        access_log=None,
        handle_signals=False,  # _stop_on_first_signal: a repeated signal must not cut the cleanup short
        loop=loop_factory() if loop_factory else None,
    )


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _stop_on_first_signal(app: web.Application) -> None:
    """Stop gracefully on the first SIGINT/SIGTERM and ignore repeats, so the cleanup always finishes.

    (aiohttp's own handlers stay armed while it cleans up: a second signal, as ``timeout`` or an impatient
    supervisor sends, aborted the cleanup and left the database open, or killed the process.) SIGKILL
    still ends a stop that hangs.
    """
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        for each in STOP_SIGNALS:
            loop.remove_signal_handler(each)
            signal.signal(each, signal.SIG_IGN)
        log.info("event=stopping signal=%s", sig.name)
        raise web.GracefulExit()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)


def _uvloop_factory():  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    main()
