"""Restarts that lose nobody: SIGTERM on ``python server.py`` with the JS socket.io-client connected over WebSocket."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config import Settings
from storage import open_database
from storage.chat import make_chat_store
from tests.browser import node_modules
from tests.helpers import ServerProcess, connect_client, free_port
from tests.test_instances import Cluster, cluster  # noqa: F401  (the two-process fixture)

CLIENTS = 4


async def read_line(proc: asyncio.subprocess.Process, key: str, seconds: float = 20) -> dict[str, Any]:
    """Return the next JSON line of the Node driver that has ``key``."""
    assert proc.stdout is not None
    async with asyncio.timeout(seconds):
        while True:
            raw = await proc.stdout.readline()
            assert raw, f"the driver ended before {key!r}"
            line = json.loads(raw)
            if key in line:
                return line


async def ready_status(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/ready") as resp:
        return resp.status


async def stored_texts(env: dict[str, str]) -> set[str]:
    settings = Settings(
        data_dir=Path(env["DESKLINE_DATA_DIR"]),
        mongo_url=env.get("DESKLINE_MONGO_URL"),
        mongo_db=env.get("DESKLINE_MONGO_DB", "deskline"),
        jwt_secret=env["DESKLINE_JWT_SECRET"],
    )
    db = await open_database(settings)
    try:
        return {m.message_data for m in await make_chat_store(db).history("restart-load", 100_000)}
    finally:
        await db.close()


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status


async def test_ready_turns_503_first_then_the_sockets_close(tmp_path: Path) -> None:
    server = await ServerProcess(
        {"DESKLINE_DATA_DIR": str(tmp_path / "data"), "DESKLINE_SHUTDOWN_DRAIN_SECONDS": "1.5"}, free_port()
    ).start()
    client = await connect_client(server.url)
    try:
        assert await ready_status(server.url) == 200
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        statuses = []
        for _ in range(20):  # within 1 s
            statuses.append(await ready_status(server.url))
            if statuses[-1] == 503:
                break
            await asyncio.sleep(0.05)
        assert statuses[-1] == 503, statuses
        assert await status_of(f"{server.url}/health") == 200  # still alive, still serving its sockets
        assert client.sio.connected
        assert await asyncio.to_thread(server.proc.wait, 10) == 0
        for _ in range(100):  # within 5 s
            if not client.sio.connected:
                break
            await asyncio.sleep(0.05)
        assert not client.sio.connected
    finally:
        await client.close()
        server.stop()
    assert "Traceback" not in server.log.read_text()


@pytest.mark.parametrize("cluster", ["sqlite", "mongo"], indirect=True)
async def test_sigterm_under_load_loses_no_acked_message_and_clients_reconnect_at_once(
    cluster: Cluster,  # noqa: F811
) -> None:
    users = [await cluster.user(name=f"js{i}") for i in range(CLIENTS)]
    js = await asyncio.to_thread(node_modules)
    node = shutil.which("node")
    assert node, "node is required (.ci/run installs it)"
    tokens = json.dumps([token for _, token in users])
    driver = await asyncio.create_subprocess_exec(
        node, "restart_load.mjs", cluster.a.url, cluster.b.url, tokens,
        cwd=js, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        await read_line(driver, "ready")
        assert cluster.a.proc is not None
        sigterm_at = time.time()
        cluster.a.proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(cluster.a.proc.wait, 10)  # raises if it takes longer than 10 s
        exited_after = time.time() - sigterm_at
        switched = await read_line(driver, "switched")
        assert switched["urls"] == [cluster.b.url] * CLIENTS
        await asyncio.sleep(1.0)  # the load goes on against B
        assert driver.stdin is not None
        driver.stdin.write(b"stop\n")
        await driver.stdin.drain()
        result = (await read_line(driver, "result"))["result"]

        # Signed-in rooms are restored on B: ending user 0's sessions from B reaches its JS socket there.
        _, token0 = users[0]
        other = await connect_client(cluster.b.url, token0)
        await other.ok("logout", {"everywhere": True})
        await other.close()
        assert (await read_line(driver, "session_ended"))["session_ended"] == 0
    finally:
        if driver.returncode is None:
            driver.kill()
        await driver.communicate()
    assert exit_code == 0
    print(f"SIGTERM -> exit {exited_after:.2f}s")
    stored = await stored_texts(cluster.env)
    for client in result:
        assert client["transport"] == "websocket"
        assert client["reasons"][:1] == ["transport close"], client["reasons"]
        seen_after = (client["downs"][0] / 1000) - sigterm_at
        back_ms = client["ups"][1] - client["downs"][0]
        print(f"disconnect seen {seen_after:.2f}s after SIGTERM; reconnected in {back_ms} ms")
        assert seen_after < 3, "the client learnt of the stop late (before: only at its ping timeout, ~45 s)"
        gaps = [up - down for down, up in zip(client["downs"], client["ups"][1:], strict=False)]
        assert gaps and max(gaps) < 5000, gaps
        assert client["urls"][-1] == cluster.b.url
        assert len(client["acked"]) > 10
        lost = set(client["acked"]) - stored
        assert not lost, f"acked but not stored: {sorted(lost)}"
    assert "Traceback" not in cluster.a.log.read_text(), cluster.a.log.read_text()[-3000:]
