"""``GET /ready`` (may this instance take traffic?) and ``GET /metrics``; ``GET /health`` stays liveness."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from handlers.context import DB_KEY, DEPS_KEY
from handlers.metrics import scrape

log = logging.getLogger("deskline.ready")

PROBE_TIMEOUT_SECONDS = 2.0


class Readiness:
    """Whether the instance takes traffic; a stopping instance sets ``stopping`` so ``/ready`` answers 503 first."""

    def __init__(self) -> None:
        self.stopping = False


READY_KEY = web.AppKey("readiness", Readiness)


def add_routes(app: web.Application) -> None:
    """Add ``GET /ready`` and ``GET /metrics`` (and the app's ``Readiness`` flag)."""
    app[READY_KEY] = Readiness()
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", scrape)


async def ready(request: web.Request) -> web.Response:
    """Answer 200 when storage and Redis (if configured) answer and the instance is not stopping, else 503."""
    checks: dict[str, bool] = {}
    deps = request.app.get(DEPS_KEY)
    db = request.app.get(DB_KEY)
    checks["storage"] = db is not None and await _answers(db.ping())
    if deps is not None and deps.redis is not None:
        checks["redis"] = await _answers(deps.redis.ping())
    stopping = request.app[READY_KEY].stopping
    is_ready = deps is not None and not stopping and all(checks.values())
    status = "ready" if is_ready else "stopping" if stopping else "unavailable"
    return web.json_response({"status": status, "checks": checks}, status=200 if is_ready else 503)


async def _answers(probe: object) -> bool:
    """Return whether ``probe`` (a ping coroutine) answers truthy within the timeout."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            return bool(await probe)  # type: ignore[misc]
    except Exception as exc:
        log.warning("not ready: %s", exc.__class__.__name__, extra={"reason": "probe_failed"})
        return False
