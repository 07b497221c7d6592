"""``GET /metrics``: counters and histograms move with real events; several processes sum in one scrape."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from models.clock import to_millis
from models.notify import Channel, OutboxMessage
from storage.database import new_id
from tests.helpers import ManualClock, RunningServer, ServerProcess, connect_client, free_port, start_all

MESSAGE = {"type": "chat", "room_id": "lobby", "side": "client", "author": "ana", "message_type": "text"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    """Return every sample of ``GET /metrics`` keyed by (name, sorted labels)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Return one sample's value (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Return the sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= set(lab))


async def sockets_settle(url: str, expected: float, timeout: float = 5) -> bool:
    """Return whether the connected-sockets gauge reaches ``expected`` (closed clients are noticed shortly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value(await scrape(url), "deskline_connected_sockets") == expected:
            return True
        await asyncio.sleep(0.1)
    return False


async def chat_round(url: str, room: str) -> None:
    """Two clients join ``room``, one fails a login and one talks; both get the message."""
    a, b = await connect_client(url), await connect_client(url)
    try:
        await a.ok("join", {"room": room})
        await b.ok("join", {"room": room})
        await a.error("login", {"email": "nobody@example.com", "password": "wrong password here"}, "unauthorized")
        await a.ok("message_event", {**MESSAGE, "room_id": room, "message_data": "hello"})
        await b.inbox.wait_for("my_response", lambda m: m.get("data") == "hello")
    finally:
        await a.close()
        await b.close()


async def test_events_emits_storage_and_sockets_move(server: RunningServer) -> None:
    before = await scrape(server.url)
    client = await server.client()
    during = await scrape(server.url)
    assert value(during, "deskline_connected_sockets") == value(before, "deskline_connected_sockets") + 1
    await chat_round(server.url, f"room-{uuid.uuid4().hex[:6]}")
    after = await scrape(server.url)

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return total(after, name, **labels) - total(before, name, **labels) >= by

    assert grew("deskline_events_total", 2, event="join", code="ok")
    assert grew("deskline_events_total", event="login", code="unauthorized")
    assert grew("deskline_events_total", event="message_event", code="ok")
    assert grew("deskline_event_duration_seconds_count", 2, event="join")
    assert grew("deskline_event_duration_seconds_bucket", 2, event="join", le="+Inf")
    assert grew("deskline_emits_total", push="my_response")
    assert grew("deskline_deliveries_total", 2)  # the message reached both sockets, at least
    assert grew("deskline_storage_operation_seconds_count", store="chat", result="ok")
    assert grew("deskline_storage_operation_seconds_count", store="accounts")
    assert await sockets_settle(server.url, value(before, "deskline_connected_sockets") + 1)
    assert ("deskline_outbox_depth", ()) in after
    assert ("deskline_outbox_oldest_age_seconds", ()) in after
    await client.close()


async def test_outbox_depth_and_age_come_from_the_store(start_server, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", clock=clock)  # no email or SMS channel: nothing drains the outbox
    samples = await scrape(srv.url)
    assert value(samples, "deskline_outbox_depth") == 0
    assert value(samples, "deskline_outbox_oldest_age_seconds") == 0
    store = srv.deps.services.notify.store
    for age in (90, 30):
        queued = to_millis(clock()) - timedelta(seconds=age)  # the server's clock is whole milliseconds
        await store.enqueue(
            OutboxMessage(
                id=new_id(),
                channel=Channel.EMAIL,
                recipient="someone@example.com",
                kind="test",
                subject="s",
                text="t",
                next_try_at=queued,
                created_at=queued,
            )
        )
    samples = await scrape(srv.url)
    assert value(samples, "deskline_outbox_depth") == 2
    assert value(samples, "deskline_outbox_oldest_age_seconds") == 90


async def test_redis_publish_latency(start_server, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", redis_url=redis_url, redis_channel=f"metrics-{uuid.uuid4().hex[:8]}")
    before = await scrape(srv.url)
    await chat_round(srv.url, f"room-{uuid.uuid4().hex[:6]}")
    after = await scrape(srv.url)
    assert total(after, "deskline_redis_publish_seconds_count") > total(before, "deskline_redis_publish_seconds_count")


async def test_two_processes_sharing_a_metrics_dir_are_summed(tmp_path: Path, redis_url: str) -> None:
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path / "data"),
        "DESKLINE_JWT_SECRET": "metrics-secret-" + "z" * 40,
        "DESKLINE_METRICS_DIR": str(tmp_path / "metrics"),
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": f"metrics-{uuid.uuid4().hex[:8]}",
        "DESKLINE_LOG_LEVEL": "WARNING",
    }
    a, b = ServerProcess(env, free_port()), ServerProcess(env, free_port())
    await start_all(a, b)
    try:
        await chat_round(a.url, "one")
        await chat_round(a.url, "two")
        await chat_round(b.url, "three")
        held = await connect_client(b.url)
        for url in (a.url, b.url):  # whichever process answers the scrape, it reports both
            samples = await scrape(url)
            assert value(samples, "deskline_events_total", event="message_event", code="ok") == 3
            assert value(samples, "deskline_events_total", event="login", code="unauthorized") == 3
            assert value(samples, "deskline_event_duration_seconds_count", event="join") == 6
            assert await sockets_settle(url, 1)
        await held.close()
    finally:
        a.stop()
        b.stop()
