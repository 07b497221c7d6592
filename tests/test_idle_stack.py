"""What an idle WebSocket keeps alive: every frame on its call stack lives as long as the connection.

Stop 22's conformance work added two such frames (one holding the parsed query) and the read loop kept its
last message and packet: 1.1 KiB more per idle connection that nobody noticed for two stops (README,
Benchmarks). These tests walk the connection's real call stack on a real server.
"""

from __future__ import annotations

import asyncio
from types import FrameType
from typing import Any

from server import SIO_KEY
from tests.helpers import RunningServer


def awaited_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames of the coroutines ``task`` is suspended in, outermost first."""
    frames: list[FrameType] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


async def idle_websocket_stack(server: RunningServer) -> list[FrameType]:
    """The call stack of the one WebSocket connected to ``server``, suspended in its read."""
    client = await server.client()
    assert (await client.call("get_presence", {"user_ids": ["nobody"]}))["ok"] is False  # a message went through
    await asyncio.sleep(0.1)
    stacks = [awaited_frames(task) for task in asyncio.all_tasks()]
    (stack,) = [frames for frames in stacks if any(f.f_code.co_name == "_websocket_handler" for f in frames)]
    return stack


async def test_an_idle_websocket_keeps_no_frame_of_the_node_answers(server: RunningServer) -> None:
    stack = await idle_websocket_stack(server)
    names = [f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}" for frame in stack]
    assert "eio_polling.py:handle_get_request" not in names  # returns upstream's coroutine, keeps no frame
    assert "eio_server.py:_answer_as_node" not in names
    ours = {frame.f_code.co_name: frame for frame in stack if frame.f_code.co_filename.endswith("eio_server.py")}
    assert set(ours) == {"handle_request", "_handle_connect"}  # the latter replaces upstream's: no extra frame
    assert set(ours["handle_request"].f_locals) <= {"self", "request", "answer", "__class__"}  # no query, no *args


async def test_the_read_loop_keeps_neither_its_last_message_nor_packet(server: RunningServer) -> None:
    stack = await idle_websocket_stack(server)
    (loop,) = [frame for frame in stack if frame.f_code.co_name == "_websocket_handler"]
    assert "data" not in loop.f_locals and "pkt" not in loop.f_locals
    assert server.app[SIO_KEY].eio.sockets  # the socket is still open
