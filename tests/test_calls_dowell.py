"""Dowell Chat V2 call signalling on one server: callUser, answerCall, endCall, callEnded on disconnect."""

from __future__ import annotations

import asyncio
from typing import Any

from storage.calls import make_call_store
from tests.conftest import signed_in
from tests.helpers import Client, RunningServer
from tests.test_calls import ANSWER, OFFER

OFFER_SIGNAL = {"type": "offer", "sdp": OFFER}
ANSWER_SIGNAL = {"type": "answer", "sdp": ANSWER}


def call_user(to: str, sender: Client | None = None, name: str = "Ana") -> dict[str, Any]:
    """A ``callUser`` payload as the old frontend sends it."""
    payload: dict[str, Any] = {"userToCall": to, "signalData": OFFER_SIGNAL, "name": name}
    if sender is not None:
        payload["from"] = sender.sid
    return payload


async def quiet(*clients: Client, events: tuple[str, ...] = ("callUser", "callAccepted", "callEnded")) -> None:
    """Assert, after a moment, that none of ``clients`` got any of ``events``."""
    await asyncio.sleep(0.2)
    for client in clients:
        for event in events:
            assert client.inbox.of(event) == [], (event, client.inbox.of(event))


async def test_call_by_socket_id_answer_and_end(any_server: RunningServer) -> None:
    caller, callee, bystander = [await any_server.client() for _ in range(3)]
    placed = await caller.ok("callUser", call_user(callee.sid, caller, "Ana"))
    pushed = await callee.inbox.wait_for("callUser")
    assert pushed == {"signal": OFFER_SIGNAL, "from": caller.sid, "name": "Ana", "verified": False}
    assert (await callee.ok("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}))["call_id"] == placed["call_id"]
    assert await caller.inbox.wait_for("callAccepted") == ANSWER_SIGNAL
    assert await caller.ok("endCall") == {"ended": [placed["call_id"]]}
    assert await callee.inbox.wait_for("callEnded") == []  # no data, as the old server sent it
    stored = await make_call_store(any_server.deps.db).get(placed["call_id"])
    assert (stored.protocol, stored.state, stored.end_reason) == ("dowell", "ended", "hangup")
    assert await callee.ok("endCall") == {"ended": []}
    await quiet(bystander)
    assert caller.inbox.of("callEnded") == [] and len(callee.inbox.of("callEnded")) == 1


async def test_old_clients_without_acks_and_default_from(server: RunningServer) -> None:
    caller, callee = await server.client(), await server.client()
    await caller.emit("callUser", {"userToCall": callee.sid, "signalData": "offer-text", "extra": True})
    pushed = await callee.inbox.wait_for("callUser")
    assert pushed == {"signal": "offer-text", "from": caller.sid, "name": "", "verified": False}
    await callee.emit("answerCall", {"signal": "answer-text", "to": caller.sid})
    assert await caller.inbox.wait_for("callAccepted") == "answer-text"
    await callee.emit("endCall")
    await caller.inbox.wait_for("callEnded")


async def test_call_by_user_id_rings_every_device_first_answer_wins(server: RunningServer) -> None:
    phone, bob = await signed_in(server, name="Bob")
    laptop = await server.client(token=bob["access_token"])
    caller = await server.client()
    await caller.ok("callUser", call_user(bob["user"]["id"], caller, "Cy"))
    for device in (phone, laptop):
        assert (await device.inbox.wait_for("callUser"))["from"] == caller.sid
    await laptop.ok("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid})
    await phone.error("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}, "not_found")
    assert await caller.inbox.wait_for("callAccepted") == ANSWER_SIGNAL
    await caller.close()  # the caller's disconnect ends the call for the answering device
    await laptop.inbox.wait_for("callEnded")
    await quiet(phone, events=("callEnded",))
    assert len(caller.inbox.of("callAccepted")) == 1


async def test_callee_declines_with_end_call_and_disconnect_ends_ringing(server: RunningServer) -> None:
    caller, callee = await server.client(), await server.client()
    placed = await caller.ok("callUser", call_user(callee.sid, caller))
    await callee.inbox.wait_for("callUser")
    assert await callee.ok("endCall", {"anything": 1}) == {"ended": [placed["call_id"]]}
    await caller.inbox.wait_for("callEnded")
    stored = await make_call_store(server.deps.db).get(placed["call_id"])
    assert stored.end_reason == "rejected"
    await callee.error("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}, "not_found")

    second = await caller.ok("callUser", call_user(callee.sid, caller))
    await callee.close()  # the only socket it rang went away
    await caller.inbox.wait_count("callEnded", 2)
    assert (await make_call_store(server.deps.db).get(second["call_id"])).end_reason == "disconnected"


async def test_unanswered_dowell_call_ends_for_both(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", call_ring_seconds=0.3)
    caller, callee = await srv.client(), await srv.client()
    placed = await caller.ok("callUser", call_user(callee.sid, caller))
    for client in (caller, callee):
        await client.inbox.wait_for("callEnded", timeout=5)
    assert (await make_call_store(srv.deps.db).get(placed["call_id"])).end_reason == "missed"
    await callee.error("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}, "not_found")


async def test_bad_dowell_call_input_writes_and_pushes_nothing(server: RunningServer) -> None:
    caller, callee = await server.client(), await server.client()
    watcher, info = await signed_in(server)
    await caller.ok("join", {"room": "lobby"})
    bad = [
        {"signalData": OFFER_SIGNAL},  # no peer
        {"userToCall": callee.sid},  # no signal
        {"userToCall": callee.sid, "signalData": ""},
        {"userToCall": callee.sid, "signalData": 42},
        {"userToCall": f"user:{info['user']['id']}", "signalData": OFFER_SIGNAL},  # a room name, not a peer
        {"userToCall": "chat:lobby", "signalData": OFFER_SIGNAL},
        {"userToCall": "", "signalData": OFFER_SIGNAL},
        {"userToCall": "x" * 65, "signalData": OFFER_SIGNAL},
        "call him",
        None,
    ]
    for payload in bad:
        await caller.error("callUser", payload, "invalid_payload")
    for payload in ({"signal": ANSWER_SIGNAL}, {"to": caller.sid}, {"signal": "", "to": caller.sid}, [1], None):
        await callee.error("answerCall", payload, "invalid_payload")
    await callee.error("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}, "not_found")  # nothing rings
    assert await caller.ok("endCall") == {"ended": []}
    assert await make_call_store(server.deps.db).open_calls_of_socket(caller.sid) == []
    await quiet(callee, watcher, caller)

    # a Dowell call is not a Deskline call: call_* events do not reach it
    placed = await caller.ok("callUser", call_user(callee.sid, caller))
    await callee.ok("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid})
    await caller.error("call_hangup", {"call_id": placed["call_id"]}, "not_found")


async def test_user_busy_in_a_deskline_call_gets_only_an_error_ack_on_answer_call(any_server: RunningServer) -> None:
    ana, _ = await signed_in(any_server)
    phone, bob = await signed_in(any_server)
    laptop = await any_server.client(token=bob["access_token"])
    bob_id = bob["user"]["id"]
    talking = await ana.ok("call_invite", {"to_user": bob_id, "media": "audio", "sdp": OFFER})
    await phone.ok("call_answer", {"call_id": talking["id"], "sdp": ANSWER})
    caller = await any_server.client()  # an old Dowell frontend: no account
    placed = await caller.ok("callUser", call_user(bob_id, caller, "Cy"))
    await laptop.inbox.wait_for("callUser")
    error = await laptop.error("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}, "conflict")
    assert error["details"] == {"call_id": placed["call_id"], "user_id": bob_id, "reason": "busy"}
    await laptop.emit("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid})  # as an old client: no ack
    await quiet(caller, events=("callAccepted", "callEnded"))
    await quiet(phone, laptop, events=("callAccepted", "callEnded"))
    stored = await make_call_store(any_server.deps.db).get(placed["call_id"])
    assert stored.state == "ringing" and stored.callee_sid is None  # it keeps ringing

    await phone.ok("call_hangup", {"call_id": talking["id"]})
    assert (await laptop.ok("answerCall", {"signal": ANSWER_SIGNAL, "to": caller.sid}))["call_id"] == placed["call_id"]
    assert await caller.inbox.wait_for("callAccepted") == ANSWER_SIGNAL
    busy = await ana.error("call_invite", {"to_user": bob_id, "media": "audio", "sdp": OFFER}, "conflict")
    assert busy["details"] == {"user_id": bob_id, "reason": "busy"}  # an active Dowell call counts too


async def test_signed_in_caller_is_named_by_its_account_and_answered_by_user_id(any_server: RunningServer) -> None:
    caller, cy = await signed_in(any_server, name="Cy")
    callee = await any_server.client()
    placed = await caller.ok("callUser", call_user(callee.sid, caller, "Cy"))
    pushed = await callee.inbox.wait_for("callUser")
    assert pushed == {"signal": OFFER_SIGNAL, "from": cy["user"]["id"], "name": "Cy", "verified": True}
    answered = await callee.ok("answerCall", {"signal": ANSWER_SIGNAL, "to": pushed["from"]})
    assert answered["call_id"] == placed["call_id"]
    assert await caller.inbox.wait_for("callAccepted") == ANSWER_SIGNAL
