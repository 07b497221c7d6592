"""Cross-check of the lean generator: the same closed loop driven by Node's ``socket.io-client`` (pinned)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from bench.procs import NODE_REF, pinned
from bench.targets import Target

GENERATOR_CORE = 1


async def node_client_closed_loop(
    target: Target, clients: int, in_flight: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Run bench/node_ref/driver.js on the generator core against ``target``; return its acks/s and CPU %."""
    event = target.echo_event
    cmd = [
        "node", str(NODE_REF / "driver.js"), target.url, event,
        str(clients), str(in_flight), str(warmup), str(seconds),
    ]  # fmt: skip
    env = dict(os.environ)
    if target.auth:
        cmd.append(target.auth["token"])
        env["BENCH_USER_ID"] = target.echo_payload["user_ids"][0]
    proc = await asyncio.create_subprocess_exec(
        *pinned(cmd, GENERATOR_CORE if (os.cpu_count() or 1) > 1 else None),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), warmup + seconds + 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"socket.io-client driver failed: {err.decode()[-500:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return {"event": event, "rate": float(result["rate"]), "client_cpu": float(result["client_cpu"])}
