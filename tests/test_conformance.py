"""socket.io's own protocol conformance suites against a server on Deskline's socket layer, and on stock.

The suites (``tests/conformance``, vendored unedited from socketio/engine.io-protocol and
socketio/socket.io-protocol) run with their pinned ``ws``/``node-fetch`` clients under mocha, with a
preload that hands each WebSocket message over in its own macrotask, as browsers do. Every test must pass
on Deskline's subclasses except the ones named in ``KNOWN_FAILURES`` (their reasons are in the README),
and every test that stock python-engineio/python-socketio passes in the same run must pass on ours.
The suites name ``localhost:3000`` themselves, so the server listens there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, npm_installed

SUITES = ROOT / "tests" / "conformance"
PORT = 3000  # fixed by the suites (their URL constant)
ENGINE_IO = "engine.io-protocol"
SOCKET_IO = "socket.io-protocol"
# Tests Deskline's layer still fails (README, "Protocol conformance"), and what they check:
KNOWN_FAILURES = {
    # A poll sent right after the client's UPGRADE packet, before the server has read it, still gets a NOOP.
    "Engine.IO protocol upgrade ignores HTTP requests with same sid after upgrade",
    "Engine.IO protocol upgrade should ignore HTTP requests with same sid after upgrade",
    # Passes or fails with timing: the test never reads the probe's answer, and waits for the next message.
    "Engine.IO protocol upgrade ignores WebSocket connection with same sid after upgrade",
}


def mocha_folder() -> Path:
    """The suites' folder with their pinned mocha, chai, ws and node-fetch installed."""
    return npm_installed(SUITES, "mocha")


@contextlib.asynccontextmanager
async def conformance_server(stock: bool) -> AsyncIterator[None]:
    """Run ``tests/conformance/server.py`` on port 3000 (``stock``: on upstream's classes) until the block ends."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError:
            pytest.fail(f"port {PORT} is taken: the conformance suites only talk to localhost:{PORT}")
    args = [sys.executable, "-m", "tests.conformance.server", "--port", str(PORT), *(["--stock"] if stock else [])]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"ready", f"the conformance server did not start: {line!r}"
        yield
    finally:
        proc.terminate()
        await proc.wait()


async def passed(suite: str) -> tuple[set[str], dict[str, str]]:
    """Run one suite with mocha (each test retried once); return the full titles that passed, and why each failed."""
    node = shutil.which("node")
    assert node, "Node.js is required for the conformance suites (.ci/run installs it)"
    folder = mocha_folder()
    proc = await asyncio.create_subprocess_exec(
        node,
        str(folder / "node_modules" / "mocha" / "bin" / "mocha"),
        "--exit",
        "--retries=1",
        "--reporter=json",
        "--require=../one-message-per-task.cjs",
        "test-suite.js",
        cwd=folder / suite,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 150)
    try:
        report = json.loads(out)
    except ValueError:
        pytest.fail(f"mocha printed no report for {suite}: {err.decode()[-2000:]}")
    passes = {test["fullTitle"] for test in report["passes"]}
    failures = {test["fullTitle"]: str(test.get("err", {}).get("message", "")) for test in report["failures"]}
    assert passes or failures, f"{suite} ran no test"
    return passes, {title: why for title, why in failures.items() if title not in passes}


Results = dict[str, tuple[set[str], dict[str, str]]]  # suite -> (passed, failed with mocha's message)


async def run_both_suites(stock: bool) -> Results:
    """Both suites' results on one server (stock's or ours), the two suites side by side."""
    async with conformance_server(stock):
        runs = await asyncio.gather(passed(ENGINE_IO), passed(SOCKET_IO))
    return dict(zip((ENGINE_IO, SOCKET_IO), runs, strict=True))


@pytest.fixture(scope="module")
def results() -> dict[str, Results]:
    """Both suites' results on stock and on ours, run once for the module."""
    return {"stock": asyncio.run(run_both_suites(stock=True)), "ours": asyncio.run(run_both_suites(stock=False))}


@pytest.mark.parametrize("suite", [ENGINE_IO, SOCKET_IO])
def test_the_suite_passes_on_desklines_socket_layer_beyond_what_stock_passes(
    results: dict[str, Results], suite: str
) -> None:
    stock_passes, _ = results["stock"][suite]
    ours, failed = results["ours"][suite]
    assert stock_passes - ours == set(), "stock python-socketio passes these and Deskline's layer does not"
    unexpected = {title: why for title, why in failed.items() if title not in KNOWN_FAILURES}
    assert unexpected == {}, "Deskline's layer fails these (title: mocha's message)"
    assert len(ours) >= {ENGINE_IO: 22, SOCKET_IO: 31}[suite] > len(stock_passes)
