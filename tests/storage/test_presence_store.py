"""The presence store contract, in process and in Redis; Redis also across instances and crashes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from models.presence import Status
from storage.presence import Gone, PresenceStore, make_presence_store


@pytest.fixture(params=["local", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each presence backend in turn."""
    return str(request.param)


@pytest.fixture
async def stores(kind: str, redis_url: str) -> AsyncIterator[Callable[..., PresenceStore]]:
    """Factory of presence stores sharing one (unique) Redis prefix, one per instance."""
    channel = f"test-{uuid.uuid4().hex[:10]}"
    client = Redis.from_url(redis_url) if kind == "redis" else None

    def factory(instance_id: str = "a", ttl: float = 30) -> PresenceStore:
        return make_presence_store(client, channel, instance_id, ttl)

    yield factory
    if client is not None:
        keys = [key async for key in client.scan_iter(f"deskline:{channel}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_status_follows_the_first_and_last_socket(stores, kind: str) -> None:  # type: ignore[no-untyped-def]
    store = stores()
    await store.heartbeat()
    assert await store.statuses(["u1"]) == {"u1": Status.OFFLINE}
    assert await store.add_socket("s1", "u1", "agent") is True
    assert await store.add_socket("s2", "u1", "agent") is False
    assert await store.statuses(["u1", "u2"]) == {"u1": Status.ONLINE, "u2": Status.OFFLINE}
    other = stores("b")
    await other.heartbeat()
    await other.add_socket("s9", "u1", "agent")
    assert await store.sockets("u1") == (["s1", "s2", "s9"] if kind == "redis" else ["s1", "s2"])
    assert await store.sockets("u2") == []
    await other.remove_socket("s9", "u1")
    assert await store.remove_socket("s1", "u1") is False
    assert await store.remove_socket("s1", "u1") is False
    assert await store.remove_socket("s2", "u1") is True
    assert await store.statuses(["u1"]) == {"u1": Status.OFFLINE}


async def test_away_and_online_by_role(stores) -> None:  # type: ignore[no-untyped-def]
    store = stores()
    await store.heartbeat()
    assert await store.set_away("u1", True) is False  # offline users cannot be away
    await store.add_socket("s1", "u1", "agent")
    await store.add_socket("s2", "u2", "agent")
    await store.add_socket("s3", "u3", "client")
    assert sorted(await store.online("agent")) == ["u1", "u2"]
    assert await store.set_away("u1", True) is True
    assert await store.set_away("u1", True) is False
    assert await store.statuses(["u1"]) == {"u1": Status.AWAY}
    assert await store.online("agent") == ["u2"]
    assert await store.online("client") == ["u3"]
    assert await store.set_away("u1", False) is True
    assert sorted(await store.online("agent")) == ["u1", "u2"]
    await store.set_away("u2", True)
    await store.remove_socket("s2", "u2")
    await store.add_socket("s4", "u2", "agent")
    assert await store.statuses(["u2"]) == {"u2": Status.ONLINE}  # away ends with the last socket


async def test_close_takes_everyone_offline(stores) -> None:  # type: ignore[no-untyped-def]
    store = stores()
    await store.heartbeat()
    await store.add_socket("s1", "u1", "agent")
    await store.add_socket("s2", "u2", "client")
    gone = await store.close()
    assert sorted(gone, key=lambda g: g.user_id) == [Gone("u1", "agent"), Gone("u2", "client")]
    assert await store.statuses(["u1", "u2"]) == {"u1": Status.OFFLINE, "u2": Status.OFFLINE}


async def test_a_dead_instance_is_reaped_once(stores, kind: str) -> None:  # type: ignore[no-untyped-def]
    if kind != "redis":
        pytest.skip("a single process has no other instance")
    a, b = stores("a", ttl=0.3), stores("b", ttl=30)
    assert await a.heartbeat() is True and await b.heartbeat() is True
    assert await a.heartbeat() is False
    await a.add_socket("sa", "only-on-a", "agent")
    await a.add_socket("sa2", "on-both", "client")
    await b.add_socket("sb", "on-both", "client")
    assert await b.reap_dead() == []
    await asyncio.sleep(0.5)  # a stops beating: its key expires
    assert await b.statuses(["only-on-a", "on-both"]) == {"only-on-a": Status.OFFLINE, "on-both": Status.ONLINE}
    assert await b.online("agent") == []
    reaped = await asyncio.gather(b.reap_dead(), stores("c").reap_dead())
    assert sorted(reaped, key=len) == [[], [("a", [Gone("only-on-a", "agent")])]]
    assert await a.heartbeat() is True  # a was reaped: it must re-register its sockets
    assert await a.add_socket("sa", "only-on-a", "agent") is True
    assert await b.statuses(["only-on-a"]) == {"only-on-a": Status.ONLINE}


async def test_groups_list_their_sockets_apart_from_users(stores, kind: str) -> None:  # type: ignore[no-untyped-def]
    a, b = stores("a", ttl=0.3), stores("b")
    await a.heartbeat()
    await b.heartbeat()
    await a.add_socket("s1", "u1", "client")  # a signed-in socket may be in groups too
    await a.join_group("s1", "g:token")
    await a.join_group("s1", "g:identity")
    await a.join_group("s2", "g:token")
    await b.join_group("s9", "g:token")
    on_b = ["s9"] if kind == "redis" else []
    assert await a.group_sockets("g:token") == sorted(["s1", "s2", *on_b])
    assert await a.group_sockets("g:identity") == ["s1"]
    await a.leave_group("s1", "g:identity")
    assert await a.group_sockets("g:identity") == []
    assert await a.group_sockets("g:token") == sorted(["s1", "s2", *on_b])  # the other group keeps it
    assert await a.sockets("u1") == ["s1"] and await a.online("client") == ["u1"]  # users untouched
    await a.remove_socket("s1", "u1")
    assert await a.group_sockets("g:token") == sorted(["s1", "s2", *on_b])
    if kind != "redis":
        return
    await asyncio.sleep(0.5)  # a stops beating: its sockets no longer count, and reaping removes them
    assert await b.group_sockets("g:token") == ["s9"]
    await b.reap_dead()
    assert await a.heartbeat() is True
    assert await b.group_sockets("g:token") == ["s9"]  # a's entries were removed, not just hidden


async def test_a_socket_that_moved_to_another_instance_stays_when_the_first_forgets_it(stores, kind: str) -> None:  # type: ignore[no-untyped-def]
    """A recovered socket keeps its sid on its new instance; the old instance's late removal must not end it."""
    if kind != "redis":
        pytest.skip("one instance in process: a socket cannot move")
    old, new = stores("a"), stores("b")
    await old.heartbeat()
    await new.heartbeat()
    assert await old.add_socket("s1", "u1", "agent") is True
    assert await new.add_socket("s1", "u1", "agent") is False  # came back on b under its sid
    assert await old.remove_socket("s1", "u1") is False  # a's grace ended: not the user's last socket
    assert await new.statuses(["u1"]) == {"u1": Status.ONLINE}
    assert await new.sockets("u1") == ["s1"]
    assert await new.remove_socket("s1", "u1") is True


async def test_a_socket_recovered_elsewhere_survives_the_reaping_of_its_crashed_instance(stores, kind: str) -> None:  # type: ignore[no-untyped-def]
    """After a crash, a socket comes back on another instance under its sid; reaping the dead one keeps it."""
    if kind != "redis":
        pytest.skip("one instance in process: there is no other instance")
    crashed, alive = stores("a", ttl=0.3), stores("b")
    await crashed.heartbeat()
    await alive.heartbeat()
    await crashed.add_socket("s1", "u1", "agent")
    assert await alive.add_socket("s1", "u1", "agent") is False  # recovered on b before a was reaped
    await asyncio.sleep(0.5)  # a's heartbeat expires
    reaped = await alive.reap_dead()
    assert [(instance, gone) for instance, gone in reaped] == [("a", [])]  # nobody went offline
    assert await alive.statuses(["u1"]) == {"u1": Status.ONLINE}
    assert await alive.remove_socket("s1", "u1") is True
