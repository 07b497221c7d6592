"""Background tasks that start with a domain's setup and stop with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from handlers.context import Deps

log = logging.getLogger("deskline.background")


def start_periodic(deps: Deps, name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Run ``job`` every ``seconds`` until the app stops; a failing run is logged, never fatal."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("event=background task=%s code=internal", name)

    task = asyncio.get_running_loop().create_task(loop(), name=name)
    deps.shutdown_hooks.append(lambda: cancel(task))
    return task


async def cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has stopped."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
