"""A restart behind the real nginx under a steady load: SIGTERM one of two instances (MongoDB, Redis); no
acknowledged message is lost and no JS client is without a connection for more than 5 s (issue 17).

Reuses the topology test's nginx and two-instance fixture, and the shutdown test's Node driver
(tests/js/restart_load.mjs), here given the proxy's URL for both of its URLs: nginx picks the instance.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from typing import Any

import aiohttp
import pytest

from tests.browser import node_modules
from tests.helpers import ServerProcess, connect_client
from tests.test_metrics import scrape, sockets_settle, value
from tests.test_shutdown import Driver, stored_texts
from tests.test_topology import Nginx, topology  # noqa: F401  (the two instances behind nginx)

CLIENTS = 4


async def instance_behind(proxy: Nginx, nodes: list[ServerProcess]) -> ServerProcess:
    """Return the instance nginx sends this machine's clients to (hashed by client address: all of ours)."""
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/health") as resp:
        assert resp.status == 200
    for _ in range(50):  # the access log line is written as the request ends
        if used := [addr for addr in proxy.upstreams_used() if addr != "-"]:
            return next(n for n in nodes if used[-1] == f"127.0.0.1:{n.port}")
        await asyncio.sleep(0.05)
    raise AssertionError("nginx logged no upstream")


@pytest.mark.timeout(120)
async def test_sigterm_behind_nginx_under_load_loses_no_acked_message(topology: Any) -> None:  # noqa: F811
    nodes, proxy = topology
    tokens = []
    for i in range(CLIENTS):
        signup = await connect_client(nodes[0].url)
        answer = await signup.ok(
            "register", {"email": f"load{i}@example.com", "name": f"Load {i}", "password": "correct horse battery"}
        )
        tokens.append(answer["access_token"])
        await signup.close()
    victim = await instance_behind(proxy, nodes)
    survivor = nodes[1 - nodes.index(victim)]
    node = shutil.which("node")
    assert node, "node is required (.ci/run installs it)"
    js = await asyncio.to_thread(node_modules)
    proc = await asyncio.create_subprocess_exec(
        node, "restart_load.mjs", proxy.url, proxy.url, json.dumps(tokens),
        cwd=js, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    driver = Driver(proc)
    try:
        await driver.next("ready")  # every client connected through nginx, over WebSocket, sending every 40 ms
        assert value(await scrape(victim.url), "deskline_connected_sockets") == CLIENTS
        assert victim.proc is not None
        sigterm_at = time.time()
        victim.proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(victim.proc.wait, 10)  # raises if it takes longer than 10 s
        exited_after = time.time() - sigterm_at
        await driver.next("switched")
        await asyncio.sleep(1.0)  # the load goes on, through nginx, against the survivor
        assert await sockets_settle(survivor.url, CLIENTS)  # every client is on the survivor now
        assert proc.stdin is not None
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        result = (await driver.next("result"))["result"]
    finally:
        if proc.returncode is None:
            proc.kill()
        _, stderr = await proc.communicate()
    assert exit_code == 0
    print(f"SIGTERM -> exit {exited_after:.2f}s")
    stored = await stored_texts(victim.env)
    for client in result:
        assert client["transport"] == "websocket"
        assert client["urls"] == [proxy.url] * len(client["urls"])  # never addressed an instance directly
        gaps = [up - down for down, up in zip(client["downs"], client["ups"][1:], strict=False)]
        acked, refused, timeouts = len(client["acked"]), client["restarting"], client["timeouts"]
        print(f"disconnected by {client['reasons']}, back in {gaps} ms; acked {acked}, ", end="")
        print(f"refused as restarting {refused}, no ack within 5 s {timeouts}, failed {client['failed']}")
        assert gaps and len(client["ups"]) == len(client["downs"]) + 1, client  # connected again at the end
        assert max(gaps) < 5000, gaps
        assert client["failed"] == 0, stderr.decode()[-2000:]  # every other answer was a success
        assert acked > 10
        unanswered = set(client["timed_out"])  # written as the socket closed: no ack, so the sender must resend
        print(f"  of the {len(unanswered)} unacked, stored anyway: {len(unanswered & stored)}")
        lost = set(client["acked"]) - stored
        assert not lost, f"acked but not stored: {sorted(lost)}"
    retried = (proxy.folder / "error.log").read_text().count("connect() failed")
    print(f"nginx: {retried} connection(s) refused by the stopped instance, retried on the survivor")
    assert "Traceback" not in victim.log.read_text(), victim.log.read_text()[-3000:]
