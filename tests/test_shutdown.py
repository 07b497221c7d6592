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
from models.roles import Role
from storage import open_database
from storage.chat import make_chat_store
from tests.browser import node_modules
from tests.conftest import signed_in
from tests.helpers import RunningServer, ServerProcess, connect_client, free_port
from tests.test_helpdesk import desk, ticket_payload
from tests.test_instances import Cluster, cluster  # noqa: F401  (the two-process fixture)

CLIENTS = 4


class Driver:
    """The Node driver's JSON lines, read in order and kept, so a line that came early is still found."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.taken: set[int] = set()

    async def next(self, key: str, seconds: float = 20, **match: Any) -> dict[str, Any]:
        """Return the first line not returned yet that has ``key`` (and ``match``'s values)."""
        assert self.proc.stdout is not None

        def fits(line: dict[str, Any]) -> bool:
            return key in line and all(line.get(k) == v for k, v in match.items())

        async with asyncio.timeout(seconds):
            while True:
                for n, line in enumerate(self.lines):
                    if n not in self.taken and fits(line):
                        self.taken.add(n)
                        return line
                raw = await self.proc.stdout.readline()
                assert raw, f"the driver ended before {key!r}"
                self.lines.append(json.loads(raw))


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
    _, manager_token = await cluster.user(Role.MANAGER, "Mona")
    manager = await cluster.client(cluster.b, manager_token)
    office = await manager.ok("create_office", {"name": "Main", "address": "1 Main St", "windows": 1})
    js = await asyncio.to_thread(node_modules)
    node = shutil.which("node")
    assert node, "node is required (.ci/run installs it)"
    tokens = json.dumps([token for _, token in users])
    proc = await asyncio.create_subprocess_exec(
        node, "restart_load.mjs", cluster.a.url, cluster.b.url, tokens, office["ref_office"],
        cwd=js, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    driver = Driver(proc)
    try:
        await driver.next("ready")
        assert cluster.a.proc is not None
        sigterm_at = time.time()
        cluster.a.proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(cluster.a.proc.wait, 10)  # raises if it takes longer than 10 s
        exited_after = time.time() - sigterm_at
        switched = await driver.next("switched")
        assert switched["urls"] == [cluster.b.url] * CLIENTS
        await asyncio.sleep(1.0)  # the load goes on against B
        # Tracked offices are restored on B: socket 0 is told, and gets the office's counter pushes there.
        restored = await driver.next("push", push="tracking_restored", url=cluster.b.url)
        assert restored["data"]["tracking"] == [office["ref_office"]]
        await manager.ok("reset_counters", {"ref_office": office["ref_office"]})
        await driver.next("push", push="counter_updated", url=cluster.b.url)
        assert proc.stdin is not None
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        result = (await driver.next("result"))["result"]

        # Signed-in rooms are restored on B: ending user 0's sessions from B reaches its JS socket there.
        _, token0 = users[0]
        other = await connect_client(cluster.b.url, token0)
        await other.ok("logout", {"everywhere": True})
        await other.close()
        assert (await driver.next("session_ended"))["session_ended"] == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
    assert exit_code == 0
    print(f"SIGTERM -> exit {exited_after:.2f}s")
    stored = await stored_texts(cluster.env)
    for client in result:
        assert client["transport"] == "websocket"
        assert client["reasons"][:1] == ["transport close"], client["reasons"]
        seen_after = (client["downs"][0] / 1000) - sigterm_at
        back_ms = client["ups"][1] - client["downs"][0]
        acked, refused, timeouts = len(client["acked"]), client["restarting"], client["timeouts"]
        print(f"disconnect {seen_after:.2f}s after SIGTERM, back in {back_ms} ms; acked {acked}, ", end="")
        print(f"refused as restarting {refused}, no ack within 5 s {timeouts}")
        assert client["failed"] == 0  # every other answer was a success
        assert seen_after < 3, "the client learnt of the stop late (before: only at its ping timeout, ~45 s)"
        gaps = [up - down for down, up in zip(client["downs"], client["ups"][1:], strict=False)]
        assert gaps and max(gaps) < 5000, gaps
        assert client["urls"][-1] == cluster.b.url
        assert acked > 10
        lost = set(client["acked"]) - stored
        assert not lost, f"acked but not stored: {sorted(lost)}"
    assert "Traceback" not in cluster.a.log.read_text(), cluster.a.log.read_text()[-3000:]


async def test_a_reconnecting_socket_gets_its_ticket_rooms_back_from_auth_tickets(server: RunningServer) -> None:
    d = await desk(server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    back = await server.client(auth={"token": d.tokens["client"], "tickets": [ticket["id"], "no-such-ticket", 5]})
    plain = await server.client(token=d.tokens["client"])
    _, other = await signed_in(server, Role.CLIENT, "other")
    nosy = await server.client(auth={"token": other["access_token"], "tickets": [ticket["id"]]})

    await d.billing_agent.ok("typing", {"ticket_id": ticket["id"], "typing": True})
    assert (await back.inbox.wait_for("typing"))["ticket_id"] == ticket["id"]
    await asyncio.sleep(0.3)
    assert plain.inbox.of("typing") == [] and nosy.inbox.of("typing") == []  # no tickets asked; not its ticket
