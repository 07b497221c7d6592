"""Call signalling on one server: Deskline's call events, the visitor-to-agents fan-out, TURN credentials."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web

from models.clock import to_millis
from models.roles import Role
from storage import open_database
from storage.calls import make_call_store
from tests.conftest import signed_in
from tests.helpers import Client, ManualClock, RunningServer

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
ANSWER = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def candidate(n: int) -> dict[str, object]:
    """An RTCIceCandidateInit numbered ``n``."""
    return {"candidate": f"candidate:{n} 1 udp 2122260223 10.0.0.{n} {50000 + n} typ host", "sdpMid": "0"}


async def ring(caller: Client, callee_id: str, media: str = "audio") -> dict[str, object]:
    """Invite ``callee_id`` and return the call."""
    return await caller.ok("call_invite", {"to_user": callee_id, "media": media, "sdp": OFFER})


async def test_invite_answer_ice_in_order_hangup(any_server: RunningServer) -> None:
    caller, ana = await signed_in(any_server, Role.CLIENT, "Ana")
    callee, bob = await signed_in(any_server, Role.AGENT, "Bob")
    call = await ring(caller, bob["user"]["id"], "video")
    assert call["state"] == "ringing" and call["media"] == "video" and call["invited"] == [bob["user"]["id"]]
    assert "caller_sid" not in call

    incoming = await callee.inbox.wait_for("call_incoming")
    assert incoming == {
        "call_id": call["id"],
        "from_user": ana["user"]["id"],
        "from_name": "Ana",
        "media": "video",
        "sdp": OFFER,
    }
    answered = await callee.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER})
    assert answered["state"] == "active" and answered["callee_user"] == bob["user"]["id"]
    got = await caller.inbox.wait_for("call_answered")
    assert got == {"call_id": call["id"], "sdp": ANSWER, "by_user": bob["user"]["id"]}

    for n in range(10):  # fire-and-forget, as a browser trickles them
        await caller.emit("call_ice", {"call_id": call["id"], "candidate": candidate(n)})
        await callee.emit("call_ice", {"call_id": call["id"], "candidate": candidate(100 + n)})
    to_callee = await callee.inbox.wait_count("call_ice", 10)
    to_caller = await caller.inbox.wait_count("call_ice", 10)
    assert [c["candidate"] for c in to_callee] == [candidate(n) for n in range(10)]
    assert [c["candidate"] for c in to_caller] == [candidate(100 + n) for n in range(10)]
    assert {c["from_user"] for c in to_callee} == {ana["user"]["id"]}

    ended = await callee.ok("call_hangup", {"call_id": call["id"]})
    assert ended["state"] == "ended" and ended["end_reason"] == "hangup" and ended["ended_by"] == bob["user"]["id"]
    pushed = await caller.inbox.wait_for("call_ended")
    assert pushed == {"call_id": call["id"], "reason": "hangup", "by_user": bob["user"]["id"]}
    await caller.error("call_hangup", {"call_id": call["id"]}, "conflict")
    await caller.error("call_ice", {"call_id": call["id"], "candidate": candidate(1)}, "conflict")
    await asyncio.sleep(0.1)
    assert callee.inbox.of("call_ended") == []


async def test_only_the_two_parties_may_signal(server: RunningServer) -> None:
    caller, _ = await signed_in(server)
    callee, bob = await signed_in(server)
    third, _ = await signed_in(server)
    call = await ring(caller, bob["user"]["id"])
    call_id = call["id"]
    await third.error("call_answer", {"call_id": call_id, "sdp": ANSWER}, "forbidden")
    await caller.error("call_answer", {"call_id": call_id, "sdp": ANSWER}, "forbidden")
    await third.error("call_reject", {"call_id": call_id}, "forbidden")
    await callee.ok("call_answer", {"call_id": call_id, "sdp": ANSWER})

    second_tab = await server.client(token=(await _token_of(server, caller)))
    for client in (third, second_tab):
        await client.error("call_ice", {"call_id": call_id, "candidate": candidate(1)}, "forbidden")
        await client.error("call_hangup", {"call_id": call_id}, "forbidden")
    anonymous = await server.client()  # may signal only on a call it placed as a widget visitor
    await anonymous.error("call_ice", {"call_id": call_id, "candidate": candidate(1)}, "forbidden")
    await anonymous.error("call_hangup", {"call_id": call_id}, "forbidden")
    await anonymous.error("call_invite", {"to_user": bob["user"]["id"], "media": "audio", "sdp": OFFER}, "unauthorized")
    await third.error("call_hangup", {"call_id": "0" * 24}, "not_found")
    await asyncio.sleep(0.1)
    assert callee.inbox.of("call_ice") == [] and caller.inbox.of("call_ended") == []
    assert (await callee.ok("call_hangup", {"call_id": call_id}))["state"] == "ended"


async def _token_of(server: RunningServer, client: Client) -> str:
    """A fresh access token for the user behind ``client``."""
    me = await client.ok("me")
    user = await server.deps.accounts.store.get_user(me["id"])
    return (await server.deps.accounts.issue(user, server.clock())).access_token


async def test_bad_call_payloads_write_nothing(server: RunningServer) -> None:
    caller, ana = await signed_in(server)
    callee, bob = await signed_in(server)
    to = bob["user"]["id"]
    bad = [
        {"to_user": to, "media": "audio"},
        {"to_user": to, "media": "hologram", "sdp": OFFER},
        {"to_user": to, "media": "audio", "sdp": ""},
        {"to_user": to, "media": "audio", "sdp": OFFER, "extra": 1},
        {"to_user": 7, "media": "audio", "sdp": OFFER},
        {"to_user": ana["user"]["id"], "media": "audio", "sdp": OFFER},
        "call bob",
        None,
    ]
    for payload in bad:
        await caller.error("call_invite", payload, "invalid_payload")
    await caller.error("call_invite", {"to_user": "f" * 24, "media": "audio", "sdp": OFFER}, "not_found")
    await asyncio.sleep(0.1)
    assert callee.inbox.of("call_incoming") == []

    call = await ring(caller, to)
    for ice in ({"candidate": "x", "sdpMLineIndex": -1}, {"sdpMid": "0"}, "candidate", {"candidate": 5}):
        await caller.error("call_ice", {"call_id": call["id"], "candidate": ice}, "invalid_payload")
    await caller.error("call_ice", {"call_id": call["id"]}, "invalid_payload")
    await callee.error("call_answer", {"call_id": call["id"]}, "invalid_payload")
    # while ringing the caller may trickle early candidates to the invited user
    await caller.ok("call_ice", {"call_id": call["id"], "candidate": {"candidate": ""}})
    assert (await callee.inbox.wait_for("call_ice"))["candidate"] == {"candidate": ""}
    assert (await callee.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER}))["state"] == "active"


async def test_two_answers_only_one_wins(any_server: RunningServer) -> None:
    caller, _ = await signed_in(any_server)
    phone, bob = await signed_in(any_server)
    laptop = await any_server.client(token=bob["access_token"])
    call = await ring(caller, bob["user"]["id"])
    for device in (phone, laptop):
        await device.inbox.wait_for("call_incoming")
    answer = {"call_id": call["id"], "sdp": ANSWER}
    acks = await asyncio.gather(*(device.call("call_answer", answer) for device in (phone, laptop)))
    assert sorted(a["ok"] for a in acks) == [False, True], acks
    loser = [phone, laptop][[a["ok"] for a in acks].index(False)]
    assert next(a for a in acks if not a["ok"])["error"]["code"] == "conflict"
    taken = await loser.inbox.wait_for("call_taken")
    assert taken == {"call_id": call["id"], "by_user": bob["user"]["id"]}
    await asyncio.sleep(0.1)
    assert len(caller.inbox.of("call_answered")) == 1


async def test_reject_ends_the_call_for_the_caller(server: RunningServer) -> None:
    caller, _ = await signed_in(server)
    phone, bob = await signed_in(server)
    laptop = await server.client(token=bob["access_token"])
    call = await ring(caller, bob["user"]["id"])
    ended = await phone.ok("call_reject", {"call_id": call["id"]})
    assert ended["state"] == "ended" and ended["end_reason"] == "rejected"
    for client in (caller, laptop):
        got = await client.inbox.wait_for("call_ended")
        assert got == {"call_id": call["id"], "reason": "rejected", "by_user": bob["user"]["id"]}
    await laptop.error("call_answer", {"call_id": call["id"], "sdp": ANSWER}, "conflict")
    await phone.error("call_reject", {"call_id": call["id"]}, "conflict")


async def test_unanswered_call_is_missed_for_both(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", call_ring_seconds=0.5)
    caller, _ = await signed_in(srv, name="Ana")
    callee, bob = await signed_in(srv)
    call = await ring(caller, bob["user"]["id"])
    for client in (caller, callee):
        assert await client.inbox.wait_for("call_missed", timeout=5) == {"call_id": call["id"]}
    note = await callee.inbox.wait_for("notification")
    assert note["kind"] == "call_missed" and note["data"] == {"call_id": call["id"]} and "Ana" in note["body"]
    await callee.error("call_answer", {"call_id": call["id"], "sdp": ANSWER}, "conflict")
    stored = await _stored(srv, call["id"])
    assert stored.state == "ended" and stored.end_reason == "missed"


async def test_ringing_ends_as_missed_after_the_default_45_seconds(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    srv = await start_server("sqlite", clock=clock)  # default settings: the sweep ends calls past their deadline
    assert srv.settings.call_ring_seconds == 45
    caller, caller_info = await signed_in(srv)
    callee, bob = await signed_in(srv)
    unanswered, answered = await ring(caller, bob["user"]["id"]), await ring(caller, bob["user"]["id"])
    deadline, placed = (datetime.fromisoformat(unanswered[k]) for k in ("ring_deadline", "created_at"))
    assert placed == to_millis(clock()) and deadline - placed == timedelta(seconds=45)  # whole milliseconds
    clock.advance(seconds=44)
    await srv.deps.services.calls.sweep()  # what the periodic sweep of any instance does
    assert (await callee.ok("call_answer", {"call_id": answered["id"], "sdp": ANSWER}))["state"] == "active"
    clock.advance(seconds=2)
    other, cy = await signed_in(srv)
    invite = {"to_user": cy["user"]["id"], "media": "audio", "sdp": OFFER}
    refused = await caller.error("call_invite", invite, "conflict")  # no hold: in a call, no second call
    assert refused["details"] == {"user_id": caller_info["user"]["id"], "reason": "busy"}
    dan, _ = await signed_in(srv)
    late = await ring(dan, cy["user"]["id"])
    clock.advance(seconds=46)
    await other.error("call_answer", {"call_id": late["id"], "sdp": ANSWER}, "conflict")  # past its deadline
    assert caller.inbox.of("call_missed") == [] and dan.inbox.of("call_missed") == []
    await srv.deps.services.calls.sweep()
    assert await caller.inbox.wait_for("call_missed") == {"call_id": unanswered["id"]}
    assert await dan.inbox.wait_for("call_missed") == {"call_id": late["id"]}
    assert await callee.inbox.wait_for("call_missed") == {"call_id": unanswered["id"]}
    assert await other.inbox.wait_for("call_missed") == {"call_id": late["id"]}
    assert (await _stored(srv, unanswered["id"])).end_reason == "missed"
    assert (await _stored(srv, answered["id"])).state == "active"
    await srv.deps.services.calls.sweep()
    await asyncio.sleep(0.1)
    assert len(caller.inbox.of("call_missed")) == 1 and len(callee.inbox.of("call_missed")) == 1
    assert callee.inbox.of("call_ended") == []


async def _stored(srv: RunningServer, call_id: str):  # type: ignore[no-untyped-def]
    return await make_call_store(srv.deps.db).get(call_id)


async def test_disconnect_ends_the_call(server: RunningServer) -> None:
    caller, ana = await signed_in(server)
    callee, bob = await signed_in(server)
    call = await ring(caller, bob["user"]["id"])
    await callee.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER})
    await caller.close()
    got = await callee.inbox.wait_for("call_ended")
    assert got == {"call_id": call["id"], "reason": "disconnected", "by_user": ana["user"]["id"]}
    await callee.error("call_hangup", {"call_id": call["id"]}, "conflict")


async def test_a_user_in_an_active_call_is_busy(server: RunningServer) -> None:
    caller, ana = await signed_in(server, Role.CLIENT)
    (bob, bob_info), (free, free_info) = [await signed_in(server, Role.AGENT) for _ in range(2)]
    other, _ = await signed_in(server, Role.CLIENT)
    bob_id = bob_info["user"]["id"]
    call = await ring(caller, bob_id)
    ringing = await other.ok("call_invite", {"to_user": bob_id, "media": "audio", "sdp": OFFER})  # ringing is not busy
    await other.ok("call_hangup", {"call_id": ringing["id"]})
    await bob.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER})
    for target in (bob_id, ana["user"]["id"]):  # both parties of the active call
        error = await other.error("call_invite", {"to_user": target, "media": "audio", "sdp": OFFER}, "conflict")
        assert error["details"] == {"user_id": target, "reason": "busy"}
    visitor_call = await other.ok("call_agents", {"media": "audio", "sdp": OFFER})
    assert visitor_call["invited"] == [free_info["user"]["id"]]  # the busy agent is not rung
    assert (await free.inbox.wait_for("call_incoming"))["call_id"] == visitor_call["id"]
    await other.ok("call_hangup", {"call_id": visitor_call["id"]})
    offer = {"media": "audio", "sdp": OFFER}
    for place, payload in (("call_invite", {**offer, "to_user": free_info["user"]["id"]}), ("call_agents", offer)):
        error = await caller.error(place, payload, "conflict")  # in a call: no second one (there is no hold)
        assert error["details"] == {"user_id": ana["user"]["id"], "reason": "busy"}
    await asyncio.sleep(0.1)
    assert len(bob.inbox.of("call_incoming")) == 2  # the first call and the ringing one, nothing while busy
    assert len(free.inbox.of("call_incoming")) == 1  # only the visitor's call
    await caller.ok("call_hangup", {"call_id": call["id"]})
    assert (await ring(other, bob_id))["state"] == "ringing"


async def test_answer_while_in_an_active_call_is_refused_and_keeps_ringing(any_server: RunningServer) -> None:
    ana_client, _ = await signed_in(any_server)
    cy_client, _ = await signed_in(any_server)
    phone, bob = await signed_in(any_server)
    laptop = await any_server.client(token=bob["access_token"])
    bob_id = bob["user"]["id"]
    waiting = await ring(cy_client, bob_id)  # rings before bob is busy: call waiting
    talking = await ring(ana_client, bob_id)
    await laptop.inbox.wait_count("call_incoming", 2)
    await phone.ok("call_answer", {"call_id": talking["id"], "sdp": ANSWER})
    error = await laptop.error("call_answer", {"call_id": waiting["id"], "sdp": ANSWER}, "conflict")
    assert error["details"] == {"call_id": waiting["id"], "user_id": bob_id, "reason": "busy"}
    stored = await _stored(any_server, waiting["id"])
    assert stored.state == "ringing" and stored.callee_user is None and stored.callee_sid is None
    await asyncio.sleep(0.1)
    assert cy_client.inbox.of("call_answered") == [] and cy_client.inbox.of("call_ended") == []
    assert [t for d in (phone, laptop) for t in d.inbox.of("call_taken") if t["call_id"] == waiting["id"]] == []
    await phone.ok("call_hangup", {"call_id": talking["id"]})  # hang up, then take the waiting call
    answered = await laptop.ok("call_answer", {"call_id": waiting["id"], "sdp": ANSWER})
    assert answered["state"] == "active" and answered["callee_user"] == bob_id
    assert (await cy_client.inbox.wait_for("call_answered"))["call_id"] == waiting["id"]


async def test_two_callers_ring_one_user_at_once_and_only_one_call_becomes_active(any_server: RunningServer) -> None:
    callers = [await signed_in(any_server) for _ in range(2)]
    phone, bob = await signed_in(any_server)
    laptop = await any_server.client(token=bob["access_token"])
    bob_id = bob["user"]["id"]
    calls = await asyncio.gather(*(ring(client, bob_id) for client, _ in callers))
    assert [c["state"] for c in calls] == ["ringing", "ringing"]  # both may ring
    for device in (phone, laptop):
        await device.inbox.wait_count("call_incoming", 2)
    answers = zip((phone, laptop), calls, strict=True)  # each device answers a different call, at once
    acks = await asyncio.gather(*(d.call("call_answer", {"call_id": c["id"], "sdp": ANSWER}) for d, c in answers))
    assert sorted(a["ok"] for a in acks) == [False, True], acks
    won = [a["ok"] for a in acks].index(True)
    lost = 1 - won
    assert acks[lost]["error"]["code"] == "conflict"
    assert acks[lost]["error"]["details"] == {"call_id": calls[lost]["id"], "user_id": bob_id, "reason": "busy"}
    assert (await callers[won][0].inbox.wait_for("call_answered"))["call_id"] == calls[won]["id"]
    await asyncio.sleep(0.1)
    assert callers[lost][0].inbox.of("call_answered") == []
    assert [(await _stored(any_server, c["id"])).state for c in calls] == [
        "active" if n == won else "ringing" for n in range(2)
    ]


async def test_visitor_rings_available_agents_first_answer_wins(server: RunningServer) -> None:
    visitor, _ = await signed_in(server, Role.CLIENT)
    await visitor.error("call_agents", {"media": "audio", "sdp": OFFER}, "not_found")
    agents = [await signed_in(server, Role.AGENT) for _ in range(3)]
    (away, _), online = agents[0], agents[1:]
    await away.ok("set_status", {"status": "away"})
    call = await visitor.ok("call_agents", {"media": "audio", "sdp": OFFER})
    assert sorted(call["invited"]) == sorted(info["user"]["id"] for _, info in online)
    for client, _ in online:
        assert (await client.inbox.wait_for("call_incoming"))["call_id"] == call["id"]
    acks = await asyncio.gather(*(c.call("call_answer", {"call_id": call["id"], "sdp": ANSWER}) for c, _ in online))
    assert sorted(a["ok"] for a in acks) == [False, True], acks
    winner = [a["ok"] for a in acks].index(True)
    loser_client, _ = online[1 - winner]
    winner_id = online[winner][1]["user"]["id"]
    assert await loser_client.inbox.wait_for("call_taken") == {"call_id": call["id"], "by_user": winner_id}
    assert (await visitor.inbox.wait_for("call_answered"))["by_user"] == winner_id
    await asyncio.sleep(0.1)
    assert away.inbox.of("call_incoming") == []
    await loser_client.error("call_ice", {"call_id": call["id"], "candidate": candidate(1)}, "forbidden")


async def test_one_agent_declining_keeps_ringing_the_others(server: RunningServer) -> None:
    visitor, _ = await signed_in(server, Role.CLIENT)
    (a, _), (b, _) = [await signed_in(server, Role.AGENT) for _ in range(2)]
    call = await visitor.ok("call_agents", {"media": "video", "sdp": OFFER})
    still = await a.ok("call_reject", {"call_id": call["id"]})
    assert still["state"] == "ringing" and len(still["rejected"]) == 1
    ended = await b.ok("call_reject", {"call_id": call["id"]})
    assert ended["state"] == "ended" and ended["end_reason"] == "rejected"
    assert (await visitor.inbox.wait_for("call_ended"))["reason"] == "rejected"


async def test_turn_credentials(start_server) -> None:  # type: ignore[no-untyped-def]
    bare = await start_server("sqlite")
    secret = "turn-shared-secret"
    srv = await start_server(
        "sqlite",
        turn_secret=secret,
        turn_uris="turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349",
        stun_uris="stun:stun.example.com:3478",
        turn_ttl_seconds=600,
    )
    _, info = await signed_in(srv)
    _, bare_info = await signed_in(bare)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {info['access_token']}"}):
            async with http.get(f"{srv.url}/api/turn", headers=headers) as resp:
                assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
        bearer = {"Authorization": f"Bearer {bare_info['access_token']}"}
        async with http.get(f"{bare.url}/api/turn", headers=bearer) as resp:
            body = await resp.json()
            assert resp.status == 404 and "DESKLINE_TURN_SECRET" in body["error"]["message"]
        bearer = {"Authorization": f"Bearer {info['access_token']}", "Origin": "https://shop.example"}
        async with http.get(f"{srv.url}/api/turn", headers=bearer) as resp:
            assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
            body = await resp.json()
    expiry, user = body["username"].split(":")
    assert user == info["user"]["id"] and abs(int(expiry) - (time.time() + 600)) < 30
    expected = base64.b64encode(hmac.new(secret.encode(), body["username"].encode(), hashlib.sha1).digest()).decode()
    assert body["credential"] == expected and body["ttl"] == 600
    assert body["uris"] == ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"]
    assert body["ice_servers"] == [
        {"urls": "stun:stun.example.com:3478"},
        {"urls": body["uris"], "username": body["username"], "credential": expected},
    ]


async def test_widget_visitor_gets_turn_credentials_with_the_workspace_key(start_server) -> None:  # type: ignore[no-untyped-def]
    from tests.helpdesk_kit import admin_of, new_workspace

    secret = "turn-shared-secret"
    srv = await start_server(
        "sqlite", turn_secret=secret, turn_uris="turn:turn.example.com:3478", cors_origins="https://shop.example"
    )
    admin = await admin_of(srv)
    workspace, api_key = await new_workspace(admin, "Widget Co")
    other, other_key = await new_workspace(admin, "Other Co")
    origin = {"Origin": "https://shop.example"}
    keyed = {"X-Workspace-Id": workspace["id"], "X-Api-Key": api_key, **origin}
    async with aiohttp.ClientSession() as http:
        preflight = {
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-workspace-id, x-api-key",
        }
        async with http.options(f"{srv.url}/api/turn", headers=preflight) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
            allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
            assert {"x-workspace-id", "x-api-key"} <= allowed and "GET" in resp.headers["Access-Control-Allow-Methods"]
        async with http.get(f"{srv.url}/api/turn", headers=keyed) as resp:
            assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
            body = await resp.json()
        wrong = [
            {**keyed, "X-Api-Key": "wrong"},
            {**keyed, "X-Api-Key": other_key},  # another workspace's key
            {**keyed, "X-Workspace-Id": "f" * 24},
            {"X-Workspace-Id": workspace["id"], **origin},  # no key
            {"X-Api-Key": api_key, **origin},
        ]
        for headers in wrong:
            async with http.get(f"{srv.url}/api/turn", headers=headers) as resp:
                assert resp.status == 401, headers
                assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"  # the page can read why
                assert (await resp.json())["error"]["code"] == "unauthorized"
        async with http.get(
            f"{srv.url}/api/turn", headers={"X-Workspace-Id": other["id"], "X-Api-Key": other_key}
        ) as resp:
            assert resp.status == 200 and (await resp.json())["username"].endswith(f":visitor-{other['id']}")
    expiry, user = body["username"].split(":")
    assert user == f"visitor-{workspace['id']}" and abs(int(expiry) - (time.time() + 86400)) < 30
    expected = base64.b64encode(hmac.new(secret.encode(), body["username"].encode(), hashlib.sha1).digest()).decode()
    assert body["credential"] == expected
    assert body["ice_servers"] == [
        {"urls": ["turn:turn.example.com:3478"], "username": body["username"], "credential": expected}
    ]


async def test_stopping_the_server_stops_its_tasks_and_ends_its_calls(settings_for, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for("sqlite", redis_url=redis_url, redis_channel=f"t-{uuid.uuid4().hex[:10]}")
    srv = RunningServer(settings)
    srv.runner = web.AppRunner(srv.app, shutdown_timeout=1.0)  # Python clients linger on a server close
    await srv.start()
    caller, _ = await signed_in(srv)
    _, bob = await signed_in(srv)
    call = await ring(caller, bob["user"]["id"])
    ours = {"presence-heartbeat", "calls-sweep", f"ring-{call['id']}"}
    assert ours <= {task.get_name() for task in asyncio.all_tasks()}
    await srv.runner.cleanup()  # clients still connected: the shutdown hooks must end the call
    await asyncio.sleep(0)
    assert not ours & {task.get_name() for task in asyncio.all_tasks()}
    for client in srv.clients:
        await client.close()
    db = await open_database(settings)
    try:
        stored = await make_call_store(db).get(call["id"])
    finally:
        await db.close()
    assert stored.state == "ended" and stored.end_reason in ("disconnected", "instance_lost")


async def test_anonymous_widget_visitor_rings_only_its_workspaces_agents(server: RunningServer) -> None:
    from tests.helpdesk_kit import admin_of, new_workspace

    admin = await admin_of(server)
    workspace, api_key = await new_workspace(admin, "Widget Co")
    other, other_key = await new_workspace(admin, "Other Co")
    (member_a, a), (member_b, b), (outsider, c) = [await signed_in(server, Role.AGENT) for _ in range(3)]
    for info in (a, b):
        await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": info["user"]["id"]})
    await admin.ok("add_workspace_member", {"workspace_id": other["id"], "user_id": c["user"]["id"]})
    visitor = await server.client()  # the widget's socket: no account, only the workspace key
    offer = {"media": "audio", "sdp": OFFER}
    await visitor.error("call_agents", offer, "unauthorized")
    await visitor.error("call_agents", {**offer, "workspace_id": workspace["id"], "api_key": "wrong"}, "unauthorized")
    await visitor.error("call_agents", {**offer, "workspace_id": workspace["id"]}, "invalid_payload")

    call = await visitor.ok(
        "call_agents", {**offer, "workspace_id": workspace["id"], "api_key": api_key, "name": "Eve"}
    )
    assert sorted(call["invited"]) == sorted([a["user"]["id"], b["user"]["id"]])
    incoming = await member_a.inbox.wait_for("call_incoming")
    assert (incoming["from_user"], incoming["from_name"]) == (None, "Eve")
    await member_b.inbox.wait_for("call_incoming")
    await member_b.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER})
    assert await member_a.inbox.wait_for("call_taken") == {"call_id": call["id"], "by_user": b["user"]["id"]}
    await visitor.inbox.wait_for("call_answered")
    await visitor.ok("call_ice", {"call_id": call["id"], "candidate": candidate(1)})
    got = await member_b.inbox.wait_for("call_ice")
    assert got["from_user"] is None and got["candidate"] == candidate(1)
    await member_b.ok("call_ice", {"call_id": call["id"], "candidate": candidate(2)})
    await visitor.inbox.wait_for("call_ice", lambda m: m["candidate"] == candidate(2))
    stranger = await server.client()
    await stranger.error("call_ice", {"call_id": call["id"], "candidate": candidate(3)}, "forbidden")
    await stranger.error("call_hangup", {"call_id": call["id"]}, "forbidden")
    assert (await visitor.ok("call_hangup", {"call_id": call["id"]}))["state"] == "ended"
    await member_b.inbox.wait_for("call_ended")
    assert outsider.inbox.of("call_incoming") == []

    await member_a.ok("set_status", {"status": "away"})
    await member_b.close()
    await asyncio.sleep(0.3)
    await visitor.error("call_agents", {**offer, "workspace_id": workspace["id"], "api_key": api_key}, "not_found")
    await visitor.error("call_agents", {**offer, "workspace_id": other["id"], "api_key": api_key}, "unauthorized")
    assert (await visitor.ok("call_agents", {**offer, "workspace_id": other["id"], "api_key": other_key}))[
        "invited"
    ] == [c["user"]["id"]]
