"""Deskline: the aiohttp app and its Socket.IO server (wiring only)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator

import socketio
from aiohttp import web

import data_tools
import handlers
import workers
from config import Settings, describe_settings
from handlers import asyncapi, codec, lifecycle
from handlers.context import DB_KEY, DEPS_KEY, SETTINGS_KEY, Deps
from handlers.cors import install_cors, warn_about_wildcard
from handlers.logs import configure_logging
from handlers.metrics import ObservedManager, process_exiting, setup_metrics
from handlers.sio_server import DesklineServer
from handlers.sio_sharding import ShardedRedisManager, redis_client_name
from models.clock import Clock
from models.common import utc_now
from models.demo import DemoSite
from storage import open_database
from storage.migrations import migrate
from wiring import build_deps

VERSION = "0.1.0"
SHUTDOWN_TIMEOUT_SECONDS = 2.0  # aiohttp waits this long for requests still open once the sockets closed
log = logging.getLogger("deskline")

REDIS_POOL_WAIT_SECONDS = 10
# The cycle collector's thresholds for a serving process (CPython's default: 700, 10, 10). Each open socket holds
# ~100 long-lived objects, so with thousands open the default runs the older generations' full walks often:
# 5,000 connects took 3.5 s instead of 2.8 s with these (bench, README). Cycles are still collected, later.
SERVING_GC_THRESHOLDS = (20_000, 50, 100)
SIO_KEY = web.AppKey("sio", socketio.AsyncServer)  # a DesklineServer


def create_app(settings: Settings, clock: Clock = utc_now) -> web.Application:
    """Return the Deskline application; resources open when it starts, not before."""
    warn_about_wildcard(settings)
    app = web.Application()  # no middleware: a WebSocket keeps its request's frames as long as it is open
    setup_metrics(settings.metrics_dir)
    client_manager = (
        ShardedRedisManager(
            settings.redis_url,
            channel=settings.redis_channel,
            shards=settings.redis_shards,
            redis_options={"client_name": redis_client_name(settings.redis_channel)},
        )
        if settings.redis_url
        else ObservedManager()
    )
    sio = DesklineServer(
        async_mode="aiohttp",
        client_manager=client_manager,
        send_backlog=settings.send_backlog,
        websocket_compression=settings.websocket_compression,
        json=codec,
        cors_allowed_origins=settings.cors_list(),
        cors_credentials=settings.cors_credentials(),
        transports=["websocket"] if settings.workers > 1 else None,  # polling needs stickiness: one process
        max_http_buffer_size=settings.max_payload_bytes * 4,
    )
    sio.attach(app, socketio_path="socket.io")
    app[SETTINGS_KEY] = settings
    app[SIO_KEY] = sio
    app.router.add_get("/health", health)
    app.router.add_get("/asyncapi.json", asyncapi.serve)
    handlers.add_all_routes(app)
    install_cors(app, settings.cors_list())  # its catch-all /api/ route comes after the API's own
    lifecycle.install(app, sio)  # SIGTERM: /ready 503, then every socket closed so its client reconnects at once
    app.cleanup_ctx.append(_resources(settings, sio, clock))
    return app


def _resources(settings: Settings, sio: socketio.AsyncServer, clock: Clock):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(settings)
        redis = None
        deps: Deps | None = None
        if settings.redis_url:
            from redis.asyncio import BlockingConnectionPool, Redis

            # A burst of events waits for a free connection instead of failing with "Too many connections".
            pool = BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=settings.redis_max_connections, timeout=REDIS_POOL_WAIT_SECONDS
            )
            redis = Redis.from_pool(pool)  # closing the client closes the pool and its connections
        try:
            if settings.migrate_on_start:
                await migrate(db, settings)
            deps = await build_deps(settings, sio, db, clock, redis)
            await handlers.register_all(deps)
            if settings.demo:
                announce_demo(await deps.services.demo.ensure(), settings)
            app[DB_KEY] = db
            app[DEPS_KEY] = deps
            log.info("event=started storage=%s redis=%s", db.kind, bool(redis))
            yield
        finally:
            if deps is not None:
                await deps.shutdown()
            if isinstance(sio.manager, ShardedRedisManager):
                await sio.manager.close()
            if redis is not None:
                await redis.aclose()
            await db.close()
            process_exiting()
            log.info("event=stopped")

    return context


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


def announce_demo(site: DemoSite, settings: Settings) -> None:
    """Print the demo's page and logins on stdout, once (never to the logs: they hold passwords)."""
    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    lines = [f"demo: page {base}/demo  console {base}/agent  workspace {site.workspace_id}"]
    lines += [f"demo login: role={login.role} email={login.email} password={login.password}" for login in site.logins]
    print("\n".join(lines), flush=True)


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
    parser.add_argument("--workers", type=int, help="processes sharing the port (DESKLINE_WORKERS); needs Redis")
    parser.add_argument("--demo", action="store_true", help="make the demo workspace and serve /demo (DESKLINE_DEMO)")
    parser.add_argument(workers.WORKER_FLAG, action="store_true", help=argparse.SUPPRESS)
    data_tools.add_commands(commands)
    commands.add_parser("asyncapi", help="print the AsyncAPI 3 document (YAML) of the Socket.IO API")
    args = parser.parse_args(argv)
    if args.command == "asyncapi":
        print(asyncapi.to_yaml(asyncapi.document(VERSION)), end="")
        return

    overrides = {"workers": args.workers} if args.workers else {}
    settings = Settings(**overrides, **({"demo": True} if args.demo else {}))
    configure_logging(settings)
    if args.command == "create-admin":
        try:
            asyncio.run(data_tools.create_admin(settings, args.email, args.password, args.name))
        except Exception as exc:
            print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
            if getattr(exc, "details", None):
                print(f"details: {exc.details}", file=sys.stderr)
            raise SystemExit(2) from exc
        return
    if args.command in data_tools.COMMANDS:
        raise SystemExit(data_tools.run(args, settings))
    if settings.demo and settings.workers > 1:
        print("error: the demo runs in one process: start it without --workers", file=sys.stderr)
        raise SystemExit(2)
    if reason := settings.workers_refusal():
        print(f"error: {reason}", file=sys.stderr)
        raise SystemExit(2)
    if settings.workers > 1 and not args.pool_worker:
        if settings.migrate_on_start:
            asyncio.run(data_tools.migrate_only(settings))  # once, before the workers start
        raise SystemExit(workers.supervise(settings))
    loop_factory = _uvloop_factory()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    app = create_app(settings)
    app.on_startup.append(_stop_on_first_signal)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=lambda text: log.info("event=listening host=%s port=%s", settings.host, settings.port),
        access_log=None,
        handle_signals=False,  # _stop_on_first_signal: a repeated signal must not cut the cleanup short
        reuse_port=args.pool_worker or None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
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
    drain = app[SETTINGS_KEY].shutdown_drain_seconds

    def exit_now() -> None:
        raise web.GracefulExit()

    def stop(sig: signal.Signals) -> None:
        for each in STOP_SIGNALS:
            loop.remove_signal_handler(each)
            signal.signal(each, signal.SIG_IGN)
        log.info("event=stopping signal=%s drain_s=%s", sig.name, drain)
        lifecycle.not_ready(app)  # /ready says 503 first; the proxy stops sending new clients here
        if drain:
            loop.call_later(drain, exit_now)
        else:
            exit_now()

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
