"""The connection-state recovery tests' Node driver (tests/js/recovery_flow.mjs) and what they read off it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.browser import node_modules
from tests.helpers import Client
from tests.test_shutdown import Driver


class JsClients:
    """Unmodified socket.io-client sockets in one Node process, driven by JSON commands."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.driver = Driver(proc)
        self._refs = 0

    async def send(self, **command: Any) -> None:
        """Send one command line to the driver."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()

    async def open(self, name: str, url: str, **options: Any) -> dict[str, Any]:
        """Connect socket ``name`` (opted in to recovery); return its first ``connected`` line."""
        await self.send(open=name, url=url, auth=options.pop("auth", {}), **options)
        return await self.driver.next("connected", connected=name)

    async def reconnect(self, name: str, url: str | None = None) -> dict[str, Any]:
        """Reconnect socket ``name`` (to ``url`` if given); return its ``connected`` line (``recovered``, ``id``)."""
        await self.send(reconnect=name, **({"url": url} if url else {}))
        return await self.driver.next("connected", connected=name)

    async def call(self, name: str, event: str, payload: Any, key: str | None = None) -> dict[str, Any]:
        """Emit ``event`` from socket ``name`` and return its ack line."""
        ref = await self.start_call(name, event, payload, key)
        return await self.driver.next("acked", acked=ref)

    async def start_call(self, name: str, event: str, payload: Any, key: str | None = None) -> str:
        """Emit ``event`` without waiting for its ack; return the ref its ack line will carry."""
        self._refs += 1
        ref = f"r{self._refs}"
        await self.send(emit=name, event=event, payload=payload, ref=ref, **({"key": key} if key else {}))
        return ref

    async def seen(self, name: str) -> list[list[Any]]:
        """Return every event socket ``name`` received: ``[event, *args]`` (a recovering socket's last arg: offset)."""
        await self.send(seen=name)
        return list((await self.driver.next("seen", seen=name))["events"])

    async def seen_until(
        self, name: str, done: Callable[[list[list[Any]]], bool], seconds: float = 15
    ) -> list[list[Any]]:
        """Return socket ``name``'s events once ``done`` holds for them."""
        deadline = time.monotonic() + seconds
        while True:
            events = await self.seen(name)
            if done(events) or time.monotonic() > deadline:
                return events
            await asyncio.sleep(0.1)


@pytest.fixture
async def js() -> AsyncIterator[JsClients]:
    """The Node driver, stopped after the test."""
    node = shutil.which("node")
    assert node, "node is required for the JS client tests"
    folder = await asyncio.to_thread(node_modules)
    proc = await asyncio.create_subprocess_exec(
        node, "recovery_flow.mjs", cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    clients = JsClients(proc)
    await clients.driver.next("ready")
    try:
        yield clients
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def chat_lines(events: list[list[Any]], author_sid: str) -> list[str]:
    """Return the texts of the ``my_response`` chat lines written by socket ``author_sid``, in arrival order."""
    return [e[1]["data"] for e in events if e[0] == "my_response" and e[1].get("sid") == author_sid]


def offsets_of(events: list[list[Any]]) -> list[str]:
    """Return the offsets (the last argument) of a recovering socket's events."""
    return [e[-1] for e in events if len(e) >= 3 and isinstance(e[-1], str)]


async def say(client: Client, room: str, text: str) -> None:
    """Write ``text`` in public chat room ``room`` and wait for its ack."""
    await client.call("message_event", chat_message(room, text, "py"))


def chat_message(room: str, text: str, author: str = "js") -> dict[str, str]:
    """The ``message_event`` payload of ``text`` in ``room``."""
    return {"type": "chat", "room_id": room, "message_data": text, "side": "c", "author": author, "message_type": "m"}
