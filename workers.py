"""``--workers N``: N server processes on one port (SO_REUSEPORT), sharing rooms through Redis."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from config import Settings

log = logging.getLogger("deskline.workers")
WORKER_FLAG = "--pool-worker"  # hidden: tells a child it is one of the pool (binds with SO_REUSEPORT)
STOP_SECONDS = 30


def metrics_folder(settings: Settings) -> tuple[Path, bool]:
    """Return the folder the workers' metrics go to, cleared, and whether it is a private one to remove at exit.

    ``DESKLINE_METRICS_DIR`` when set (its metric files, left by an earlier run, are deleted), else a fresh
    temporary folder, so ``GET /metrics`` sums the workers without the user setting anything.
    """
    if settings.metrics_dir is None:
        return Path(tempfile.mkdtemp(prefix="deskline-metrics-")), True
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in settings.metrics_dir.glob("*.db"):  # prometheus-client's files; nothing else is touched
        stale.unlink()
    return settings.metrics_dir, False


def supervise(settings: Settings) -> int:
    """Start ``settings.workers`` children, forward SIGTERM/SIGINT to them, and return when all have exited.

    If one child exits on its own, the others are stopped too and the exit code is non-zero, so a
    supervisor (systemd, Docker) restarts the whole pool. The children share one metrics folder
    (``metrics_folder``); a private one is removed once they have exited.
    """
    folder, private = metrics_folder(settings)
    try:
        return _run_pool(settings, folder)
    finally:
        if private:
            shutil.rmtree(folder, ignore_errors=True)


def _run_pool(settings: Settings, folder: Path) -> int:
    server = str(Path(__file__).resolve().parent / "server.py")
    env = {
        **os.environ,
        "DESKLINE_WORKERS": str(settings.workers),
        "DESKLINE_MIGRATE_ON_START": "false",
        "DESKLINE_METRICS_DIR": str(folder),
    }
    log.info("event=metrics_dir path=%s", folder)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def signal_children() -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            log.info("event=workers_stopping signal=%s", signal.Signals(signum).name)
            signal_children()

    signal.signal(signal.SIGTERM, stop)  # before the first child: a stop while they start must reach them all
    signal.signal(signal.SIGINT, stop)
    for _ in range(settings.workers):
        if stopping:
            break  # asked to stop while starting: start no more
        children.append(subprocess.Popen([sys.executable, server, WORKER_FLAG], env=env))
    if stopping:
        signal_children()  # the stop may have come while the last one was being started
    log.info("event=workers_started count=%s pids=%s", len(children), ",".join(str(c.pid) for c in children))
    failed = False
    deadline: float | None = None
    while any(child.poll() is None for child in children):
        if not stopping and any(child.poll() is not None for child in children):
            failed = True
            log.error("event=worker_exited action=stopping_the_others")
            stop(signal.SIGTERM, None)
        if stopping and deadline is None:
            deadline = time.monotonic() + STOP_SECONDS
        if deadline is not None and time.monotonic() > deadline:
            for child in children:
                if child.poll() is None:
                    log.error("event=worker_killed pid=%s", child.pid)
                    child.kill()
        time.sleep(0.1)
    codes = [child.returncode for child in children]
    log.info("event=workers_stopped codes=%s", codes)
    # a worker still starting when asked to stop ends by the SIGTERM itself (-15): an orderly stop too
    return 1 if failed or any(code not in (0, -signal.SIGTERM) for code in codes) else 0
