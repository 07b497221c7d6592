"""The bench's lean Socket.IO client and scenarios, against a real Deskline server (tiny sizes, no timing asserts)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from bench import eio, load, rooms, scale
from bench.targets import NO_RATE_LIMITS, Target
from tests.conftest import signed_in
from tests.helpers import RunningServer


@dataclass
class InProcess:
    """The test server as the bench sees a server process: a port and a pid to meter."""

    port: int
    pid: int


@pytest.fixture
async def server(start_server) -> RunningServer:  # type: ignore[no-untyped-def]
    """A Deskline server as bench/run.py runs it: event rate limits off (the generator outpaces any person)."""
    limits = {name.removeprefix("DESKLINE_").lower(): value for name, value in NO_RATE_LIMITS.items()}
    return await start_server("sqlite", **limits)  # type: ignore[no-any-return]


async def target_for(server: RunningServer) -> Target:
    """A bench target on the in-process server, signed in like bench/run.py signs in."""
    _, me = await signed_in(server)
    target = Target("deskline", [InProcess(server.settings.port, os.getpid())])  # type: ignore[list-item]
    target.auth = {"token": me["access_token"]}
    target.echo_event = "get_presence"
    target.echo_payload = {"user_ids": [me["user"]["id"]]}
    return target


async def test_closed_loop_gets_ok_acks_for_both_events(server: RunningServer) -> None:
    target = await target_for(server)
    for which in ("cheap", "message"):
        result = await load.closed_loop(target, which, clients=3, in_flight=2, warmup=0.1, seconds=0.3)
        assert result["rate"] > 0, which
        assert result["bad_acks"] == 0, which
        assert set(result["cpu"]) == {"server0", "generator", "wait:server0", "wait:generator"}


async def test_fixed_rate_answers_every_event(server: RunningServer) -> None:
    target = await target_for(server)
    result = await load.fixed_rate(target, "message", clients=2, rate=100, warmup=0.1, seconds=0.3)
    assert result["answered"] == 1.0
    assert 0 < result["p50"] <= result["p99"] <= result["p999"]


async def test_fan_out_and_join_storm_deliver_everything(server: RunningServer) -> None:
    target = await target_for(server)
    fan = await rooms.fan_out(target, members=4, rate=20, seconds=0.3, grace=5)
    assert fan["delivered"] == 1.0 and fan["settled"]
    storm = await rooms.join_storm(target, 5, limit=10)
    assert storm["acked"] == 1.0 and storm["notices"] == 1.0  # 5 joiners: 10 "Joined the Room" notices


async def test_fan_out_to_members_opted_in_to_recovery_delivers_everything(server: RunningServer) -> None:
    target = await target_for(server)
    fan = await rooms.fan_out(target, members=4, rate=20, seconds=0.3, grace=5, recover=True)
    assert fan["delivered"] == 1.0 and fan["settled"]
    assert isinstance(fan["rss_kib"], int)


async def test_long_frames_reach_deskline_and_come_back(server: RunningServer) -> None:
    pushes: list[object] = []
    member = await eio.connect("127.0.0.1", server.settings.port, on_push=lambda c, e, d: pushes.append(d))
    try:
        assert (await member.call("join", {"room": "big"}))["ok"]
        text = "x" * 20_000  # the longest message_data: a 2-byte length frame out, in the broadcast and the ack
        ack = await member.call("message_event", load.chat_message("big", text))
        assert ack["ok"] and ack["data"]["message_data"] == text
        assert {"data": text, "sid": ack["data"]["sid"]} in pushes
        too_long = await member.call("message_event", load.chat_message("big", "y" * 70_000))  # 8-byte length
        assert too_long["ok"] is False and too_long["error"]["code"] == "invalid_payload"
        assert (await member.call("join", {"room": "big"}))["ok"]  # the connection still works
    finally:
        member.close()


async def test_a_64_kib_server_frame_split_over_reads_is_one_push() -> None:
    pushes: list[tuple[str, object]] = []
    client = eio.Client("127.0.0.1", 1, None, lambda c, e, d: pushes.append((e, d)))
    body = b'42["my_response",{"data":"' + b"z" * 70_000 + b'"}]'
    server_frame = bytes([0x81, 127]) + len(body).to_bytes(8, "big") + body  # server frames are unmasked
    stream = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" + server_frame + b"\x81\x012"
    for start in range(0, len(stream), 4096):
        client.data_received(stream[start : start + 4096])
    assert pushes == [("my_response", {"data": "z" * 70_000})]


async def test_room_traffic_delivers_to_the_holders_room(server: RunningServer) -> None:
    target = await target_for(server)
    result = await scale.room_traffic(target, [0], members=3, rate=20, seconds=0.3)
    assert result["delivered"] == 1.0 and result["published"] == 6
    assert result["holders"] == ["server0"] and set(result["us_per_msg"]) == {"server0"}
    assert "| 1 | one room |" in scale.redis_scale_table([(1, "one room", result)])


async def test_heap_report_counts_the_idle_sockets_of_a_traced_server() -> None:
    from bench import heap

    text = await heap.measure(sockets=20, top=3, frames=4)
    header, *sites = text.splitlines()[-4:]
    assert header.startswith("heap growth: ") and header.endswith("per idle socket (20 sockets)")
    assert float(header.split()[2]) > 1  # KiB: each socket holds at least its connection's objects
    assert len(sites) == 3 and all(" B " in line and "objects" in line for line in sites)


@pytest.mark.parametrize("kind", ["py", "layer"])
async def test_the_references_run_both_closed_loops_on_their_own_stack(kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bench.targets import running

    async with running(kind, tmp_path, None) as target:
        for which in ("cheap", "message"):
            result = await load.closed_loop(target, which, clients=3, in_flight=2, warmup=0.1, seconds=0.3)
            assert result["rate"] > 0 and result["bad_acks"] == 0, which
        client = await eio.connect("127.0.0.1", target.port)
        try:
            if kind == "layer":  # Deskline's socket layer answers an event nobody handles
                unknown = await client.call("no_such_event", {}, timeout=5)
                assert unknown["ok"] is False and unknown["error"]["code"] == "unknown_event"
            else:  # stock python-socketio never acks it
                with pytest.raises(TimeoutError):
                    await client.call("no_such_event", {}, timeout=0.5)
        finally:
            client.close()
