"""``--workers N``: N processes on one port (SO_REUSEPORT) sharing rooms through Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

from tests.helpers import Client, connect_client, free_port
from tests.test_chat import MESSAGE
from tests.test_metrics import scrape, sockets_settle

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 24


def children(pid: int) -> list[int]:
    """Return the pids of ``pid``'s child processes (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(each) for each in text.split()]


def established_on(port: int) -> set[int]:
    """Return the inodes of the established TCP sockets whose local port is ``port`` (the server's side)."""
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


def connections_per_process(pids: list[int], port: int) -> Counter[int]:
    """Count, per process, the established server-side connections on ``port`` it holds."""
    inodes = established_on(port)
    count: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                count[pid] += 1
    return count


def start(tmp_path: Path, port: int, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``python server.py ARGS`` on ``port``; return the process and its log file."""
    data = tmp_path / f"data-{uuid.uuid4().hex[:6]}"
    data.mkdir()
    log = data / "server.log"
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DESKLINE_")},
        "DESKLINE_HOST": "127.0.0.1",
        "DESKLINE_PORT": str(port),
        "DESKLINE_DATA_DIR": str(data),
        "DESKLINE_JWT_SECRET": "workers-secret-" + "z" * 40,
        "DESKLINE_LOG_LEVEL": "INFO",
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "server.py", *args], cwd=ROOT, env=full, stdout=out, stderr=out)
    return proc, log


def start_pool(tmp_path: Path, port: int, redis_url: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``python server.py --workers 2`` on ``port`` over Redis, on a channel of its own."""
    channel = f"t-{uuid.uuid4().hex[:12]}"
    return start(tmp_path, port, "--workers", "2", DESKLINE_REDIS_URL=redis_url, DESKLINE_REDIS_CHANNEL=channel, **env)


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Wait until /health answers 200."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                async with http.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"not ready: {log.read_text()[-3000:]}")


async def test_two_workers_share_the_port_and_rooms(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    proc, log = start_pool(tmp_path, port, redis_url)
    url = f"http://127.0.0.1:{port}"
    clients: list[Client] = []
    try:
        await wait_ready(url, proc, log)
        workers = children(proc.pid)
        assert len(workers) == 2, workers
        for _ in range(40):  # both workers must be listening before the spread means anything
            clients = [await connect_client(url) for _ in range(CLIENTS)]
            spread = connections_per_process(workers, port)
            if len(spread) == 2:
                break
            for client in clients:
                await client.close()
        assert sorted(spread) == sorted(workers), spread  # the clients are spread over both processes
        assert sum(spread.values()) == CLIENTS

        for client in clients:
            await client.ok("join", {"room": "everyone"})
        await clients[0].ok("message_event", {**MESSAGE, "room_id": "everyone", "message_data": "across"})
        for client in clients:  # the ones on the other process too
            got = await client.inbox.wait_for("my_response", lambda m: m.get("data") == "across")
            assert got == {"data": "across", "sid": clients[0].sid}

        async with aiohttp.ClientSession() as http:  # polling needs stickiness: refused with --workers
            async with http.get(f"{url}/socket.io/?EIO=4&transport=polling") as resp:
                assert resp.status == 400
    finally:
        for client in clients:
            await client.close()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log.read_text()[-3000:]
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()  # SIGTERM to the supervisor stopped (and reaped) every worker
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert text.count("event=stopped") == 2, text[-3000:]


async def test_workers_without_redis_are_refused(tmp_path: Path) -> None:
    proc, log = start(tmp_path, free_port(), "--workers", "2")
    code = await asyncio.to_thread(proc.wait, 30)
    assert code == 2
    assert "--workers 2 needs Redis: set DESKLINE_REDIS_URL" in log.read_text()


async def test_workers_setting_from_the_environment_is_refused_without_redis(tmp_path: Path) -> None:
    proc, log = start(tmp_path, free_port(), DESKLINE_WORKERS="3")
    code = await asyncio.to_thread(proc.wait, 30)
    assert code == 2
    assert "--workers 3 needs Redis" in log.read_text()


def metrics_dir_of(pid: int) -> Path:
    """Return the DESKLINE_METRICS_DIR a worker process was started with."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [entry.split(b"=", 1)[1] for entry in environ if entry.startswith(b"DESKLINE_METRICS_DIR=")]
    assert len(found) == 1, "the supervisor passes DESKLINE_METRICS_DIR to every worker"
    return Path(found[0].decode())


async def spread_clients(url: str, workers: list[int], port: int) -> tuple[list[Client], Counter[int]]:
    """Connect CLIENTS clients, again until the kernel has put some on every worker."""
    for _ in range(40):
        clients = [await connect_client(url) for _ in range(CLIENTS)]
        spread = connections_per_process(workers, port)
        if len(spread) == len(workers):
            return clients, spread
        for client in clients:
            await client.close()
    raise AssertionError(f"the clients never reached every worker: {spread}")


async def test_metrics_of_two_workers_are_summed_without_any_setting(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    proc, log = start_pool(tmp_path, port, redis_url)
    url = f"http://127.0.0.1:{port}"
    clients: list[Client] = []
    try:
        await wait_ready(url, proc, log)
        workers = children(proc.pid)
        folders = {metrics_dir_of(pid) for pid in workers}
        assert len(folders) == 1, folders  # one private folder, shared by both
        folder = folders.pop()
        assert folder.is_dir() and folder.name.startswith("deskline-metrics-")
        clients, spread = await spread_clients(url, workers, port)
        assert all(spread[pid] > 0 for pid in workers), spread
        # Whichever worker answers the scrape (the kernel picks), it reports the sockets of both.
        for _ in range(4):
            assert await sockets_settle(url, CLIENTS), await scrape(url)
    finally:
        for client in clients:
            await client.close()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log.read_text()[-3000:]
    assert not folder.exists()  # the private folder is removed once the workers have exited


async def test_a_configured_metrics_dir_is_cleared_at_start(tmp_path: Path, redis_url: str) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "gauge_livesum_999999.db").write_bytes(b"left by an earlier run, not a valid file")
    (folder / "notes.txt").write_text("not ours")
    port = free_port()
    proc, log = start_pool(tmp_path, port, redis_url, DESKLINE_METRICS_DIR=str(folder))
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, proc, log)
        assert {metrics_dir_of(pid) for pid in children(proc.pid)} == {folder}
        assert not (folder / "gauge_livesum_999999.db").exists()
        client = await connect_client(url)
        assert await sockets_settle(url, 1)  # the scrape reads only this run's files
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log.read_text()[-3000:]
    assert folder.is_dir() and (folder / "notes.txt").exists()  # the user's folder stays, with what is not ours


async def test_a_pool_stopped_while_its_workers_still_start_exits_cleanly(tmp_path: Path, redis_url: str) -> None:
    proc, log = start_pool(tmp_path, free_port(), redis_url)
    deadline = asyncio.get_running_loop().time() + 30
    while len(children(proc.pid)) < 2:  # both workers exist, neither has reached its own signal handling yet
        assert proc.poll() is None and asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log.read_text()[-3000:]
    assert "workers_stopped" in log.read_text()
