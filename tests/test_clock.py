"""One clock, one precision rule: every service, worker and handler reads the same whole-millisecond clock."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.clock import to_millis
from models.notify import Kind
from tests.helpers import ManualClock

ROOT = Path(__file__).resolve().parent.parent
# Only models/clock.py cuts times; only models/common.py reads the system time (the default clock).
CHECKED = ("handlers", "services", "notify", "auth")
ENGINE = "handlers/sio_engine.py"  # the socket layer's ping timer measures intervals, not moments


def clocks_in(root: object) -> list[tuple[str, Any]]:
    """Return (path, value) of every attribute named ``clock`` reachable from ``root`` through our objects."""
    found: list[tuple[str, Any]] = []
    seen: set[int] = set()
    stack: list[tuple[str, object]] = [("services", root)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen or type(obj).__module__.split(".")[0] not in ("services", "notify", "handlers"):
            continue
        seen.add(id(obj))
        names = getattr(obj, "__dataclass_fields__", None) or getattr(obj, "__dict__", {})
        for name in names:
            value = getattr(obj, name, None)
            if name == "clock":
                found.append((f"{path}.{name}", value))
            else:
                stack.append((f"{path}.{name}", value))
    return found


def raw_time_calls(module: str, tree: ast.AST) -> list[str]:
    """Return ``module:line`` of calls that read or cut time themselves (``datetime.now``, ``to_millis``...)."""
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        if (
            name == "to_millis"
            or (name in ("now", "utcnow") and owner == "datetime")
            or (owner, name) == ("time", "time")
        ):
            hits.append(f"{module}:{node.lineno}")
    return hits


def test_no_service_handler_or_worker_reads_or_cuts_the_time_itself() -> None:
    found = []
    for package in CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = str(path.relative_to(ROOT))
            if module != ENGINE:
                found += raw_time_calls(module, ast.parse(path.read_text(), module))
    assert not found, "use the injected clock (already whole milliseconds):\n  " + "\n  ".join(found)


def test_the_checker_sees_raw_time() -> None:
    source = "a = datetime.now(UTC)\nb = to_millis(x)\nc = time.time()\nd = self.clock()\ne = time.perf_counter()\n"
    assert raw_time_calls("m.py", ast.parse(source)) == ["m.py:1", "m.py:2", "m.py:3"]


async def test_every_service_reads_the_one_millisecond_clock(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC))
    server = await start_server("sqlite", clock=clock)
    services = server.deps.services
    assert services.clock() == datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert server.deps.clock is services.clock
    found = clocks_in(services)
    assert len(found) >= 10, found  # the walk reaches the services (and the outbox worker)
    assert any(path.endswith(".worker.clock") for path, _ in found), found  # notify's outbox worker
    wrong = [path for path, value in found if value is not services.clock]
    assert not wrong, f"these hold another clock than services.clock: {wrong}"


async def test_stored_times_are_whole_milliseconds(start_server) -> None:  # type: ignore[no-untyped-def]
    """What a call and a notification store equals what the clock said, cut to the millisecond."""
    from tests.conftest import signed_in

    clock = ManualClock(datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC))
    server = await start_server("sqlite", clock=clock)
    caller, _ = await signed_in(server)
    callee, bob = await signed_in(server)
    call = await caller.ok("call_invite", {"to_user": bob["user"]["id"], "media": "audio", "sdp": SDP})
    assert datetime.fromisoformat(call["created_at"]) == to_millis(clock())
    note = await server.deps.notifier.notify(bob["user"]["id"], Kind.YOUR_TURN_SOON, "Soon", "2 ahead")
    assert note is not None and note.created_at == to_millis(clock())
    pushed = await callee.inbox.wait_for("notification")
    assert datetime.fromisoformat(pushed["created_at"]) == to_millis(clock())


SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
