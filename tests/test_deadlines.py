"""Event handlers' time limit (``handlers/deadlines.py``): one timer for all handlers, ``asyncio.timeout``'s answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from handlers.context import EventContext
from handlers.deadlines import HandlerDeadlines
from handlers.events import EventRouter, NoPayload


async def test_a_handler_past_its_deadline_is_acked_internal_and_the_socket_goes_on(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", handler_timeout_seconds=0.3)
    router = EventRouter(server.deps)
    never = asyncio.Event()
    cancelled: list[str] = []

    @router.on("probe_stall", NoPayload)
    async def stall(ctx: EventContext, p: NoPayload) -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(ctx.sid)
            raise

    @router.on("probe_quick", NoPayload)
    async def quick(ctx: EventContext, p: NoPayload) -> dict[str, Any]:
        try:
            async with asyncio.timeout(0.01):  # a handler's own timeout is its own
                await never.wait()
        except TimeoutError:
            return {"fine": True}
        return {"fine": False}

    client = await server.client()
    started = time.monotonic()
    stalls = [asyncio.create_task(client.error("probe_stall", {}, "internal")) for _ in range(3)]
    assert await client.ok("probe_quick", {}) == {"fine": True}  # answered while the stalled ones wait
    errors = await asyncio.gather(*stalls)
    assert 0.3 <= time.monotonic() - started < 3
    assert {error["message"] for error in errors} == {"the server took too long"}
    assert len(cancelled) == 3 and router.deadlines.running == 0
    assert await client.ok("probe_quick", {}) == {"fine": True}  # the socket and the server go on


async def test_every_handler_is_held_to_its_own_deadline_by_one_timer() -> None:
    deadlines = HandlerDeadlines(0.2)
    outcomes: dict[int, str] = {}

    async def handler(n: int, work: float) -> None:
        try:
            with deadlines.start():
                await asyncio.sleep(work)
            outcomes[n] = "done"
        except TimeoutError:
            outcomes[n] = "timeout"

    first = asyncio.create_task(handler(0, 10))
    await asyncio.sleep(0.1)  # the second starts later, so its deadline is later
    second = asyncio.create_task(handler(1, 10))
    quick = asyncio.create_task(handler(2, 0.01))
    await asyncio.wait_for(first, 1)
    assert outcomes == {0: "timeout", 2: "done"} and not second.done()  # not cancelled before its own deadline
    await asyncio.wait_for(second, 1)
    assert outcomes[1] == "timeout" and deadlines.running == 0
    await quick


async def test_a_cancellation_that_is_not_the_deadline_goes_through() -> None:
    deadlines = HandlerDeadlines(5)
    entered = asyncio.Event()

    async def handler() -> None:
        with deadlines.start():
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(handler())
    await entered.wait()
    task.cancel()  # a shutdown, say: not a timeout
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadlines.running == 0


async def test_a_handler_that_ends_before_its_deadline_is_never_cancelled() -> None:
    deadlines = HandlerDeadlines(0.05)
    with deadlines.start():
        pass
    task = asyncio.current_task()
    assert task is not None
    await asyncio.sleep(0.1)  # past the deadline of the ended handler: the timer finds nothing to cancel
    assert task.cancelling() == 0 and deadlines.running == 0
