"""Python heap per idle connection, by allocation site: a Deskline server under ``tracemalloc``, idle sockets.

    python -m bench.heap [--sockets 1000] [--top 30] [--frames 12]

The server (``create_app``, uvloop, SQLite in a temporary folder) runs in a child process with ``tracemalloc``
on; this process opens the sockets with the bench's generator. Snapshots are taken after a warm-up and after
``--sockets`` WebSocket connections have been idle for 2 s; the report is the growth per socket, in total and
by the line that allocated it. Unlike RSS, it does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import linecache
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY, SNAPPED, DONE = "ready", "snapped", "done"


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, sockets: int, top: int) -> str:
    """Return the heap growth per socket, in total and by allocating line (largest first)."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
    stats = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [f"heap growth: {total / sockets / 1024:.2f} KiB per idle socket ({sockets} sockets)"]
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        code = linecache.getline(frame.filename, frame.lineno).strip()[:80]
        size, count = stat.size_diff / sockets, stat.count_diff / sockets
        lines.append(f"{size:8.0f} B {count:6.2f} objects  {where}:{frame.lineno}  {code}")
    return "\n".join(lines)


async def serve(port: int, sockets: int, top: int, frames: int) -> None:
    """Run the server under tracemalloc; snapshot on each ``snap`` line of stdin, report after the second."""
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from config import Settings
    from server import create_app

    tracemalloc.start(frames)
    settings = Settings(port=port, host="127.0.0.1", data_dir=Path(tempfile.mkdtemp()), env="development")
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print(READY, flush=True)
    snapshots: list[tracemalloc.Snapshot] = []
    while len(snapshots) < 2 and (await stdin.readline()).strip() == b"snap":
        gc.collect()
        snapshots.append(tracemalloc.take_snapshot())
        print(SNAPPED, flush=True)
    if len(snapshots) == 2:
        print(report(snapshots[0], snapshots[1], sockets, top), flush=True)
    print(DONE, flush=True)
    await runner.cleanup()


async def measure(sockets: int, top: int, frames: int) -> str:
    """Start the traced server, open ``sockets`` idle connections, and return its report."""
    from bench import eio
    from bench.procs import free_port

    port = free_port()
    args = ["-m", "bench.heap", "--serve", str(port), "--sockets", str(sockets), "--top", str(top)]
    child = await asyncio.create_subprocess_exec(
        sys.executable, *args, "--frames", str(frames), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "DESKLINE_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    out: list[str] = []

    async def until(word: str) -> None:
        while (line := (await child.stdout.readline()).decode()) and line.strip() != word:  # type: ignore[union-attr]
            out.append(line.rstrip())
        if not line:
            raise RuntimeError("the traced server stopped: " + "\n".join(out))

    try:
        await until(READY)
        eio.close_all(await eio.connect_many("127.0.0.1", port, min(50, sockets)))  # warm-up: imports, caches
        await asyncio.sleep(1)
        child.stdin.write(b"snap\n")
        await until(SNAPPED)
        conns = await eio.connect_many("127.0.0.1", port, sockets)
        await asyncio.sleep(2)
        child.stdin.write(b"snap\n")
        await until(SNAPPED)
        await until(DONE)
        eio.close_all(conns)
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()
    return "\n".join(out)


def main() -> None:
    """Parse the arguments and print the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.heap", description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30, help="allocating lines shown")
    parser.add_argument("--frames", type=int, default=12, help="traceback depth tracemalloc keeps")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child: serve on this port
    args = parser.parse_args()
    import uvloop

    if args.serve:
        uvloop.run(serve(args.serve, args.sockets, args.top, args.frames))
    else:
        print(uvloop.run(measure(args.sockets, args.top, args.frames)))


if __name__ == "__main__":
    main()
