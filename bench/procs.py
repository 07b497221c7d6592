"""Server processes for the bench: started pinned to a core, waited for, measured (CPU, RSS), stopped."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
NODE_REF = ROOT / "bench" / "node_ref"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int | str = "self") -> float:
    """Return the user + system CPU seconds used so far by process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def runqueue_wait_seconds(pid: int | str = "self") -> float:
    """Return the seconds the main (event-loop) thread of ``pid`` spent ready to run but without a core."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def rss_kib(pid: int) -> int:
    """Return the resident memory of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """Return ``cmd`` run under ``taskset -c core`` (taskset execs, so the pid is the command's)."""
    if core is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(core), *cmd]


class Server:
    """One server process on 127.0.0.1:``port``; ``cmd`` must listen there."""

    def __init__(self, name: str, cmd: list[str], port: int, env: dict[str, str], log: Path, core: int | None) -> None:
        self.name, self.cmd, self.port, self.env, self.log, self.core = name, cmd, port, env, log, core
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 30) -> Server:
        """Start the process and wait until GET /health answers 200."""
        env = {**os.environ, **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(pinned(self.cmd, self.core), cwd=ROOT, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/health") as resp:
                        if resp.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; always reaps the process."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class CpuMeter:
    """CPU use of some processes over a window: ``start()``, then ``stop()``.

    ``stop()`` returns, per name, the CPU used in % of one core, and under ``wait:<name>`` the time its
    main thread was ready to run but waited for a core (other jobs on a busy machine), in % of the window.
    """

    def __init__(self, pids: dict[str, int | str]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.c0: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return cpu | {f"wait:{name}": runqueue_wait_seconds(pid) for name, pid in self.pids.items()}

    def start(self) -> CpuMeter:
        """Begin the window."""
        self.t0 = time.perf_counter()
        self.c0 = self._sample()
        return self

    def stop(self) -> dict[str, float]:
        """End the window; return the CPU and run-queue wait of each process, in % of the window."""
        wall = time.perf_counter() - self.t0
        return {name: 100 * (value - self.c0[name]) / wall for name, value in self._sample().items()}


def node_available() -> bool:
    """True when node and the installed reference (``npm ci`` in bench/node_ref) are there."""
    return shutil.which("node") is not None and (NODE_REF / "node_modules" / "socket.io").is_dir()


def python() -> str:
    """The interpreter running the bench (servers use the same one)."""
    return sys.executable
