"""Wiring: converted domains register in any order; every event and push is declared with a model."""

from __future__ import annotations

from typing import Any

import pytest

import handlers
from handlers.access import ADMIN, ANONYMOUS, SIGNED_IN
from models.pushes import ALL_PUSHES
from tests.conftest import signed_in
from tests.helpers import RunningServer

PASSWORD = "correct horse battery"


async def test_converted_domains_work_registered_in_reverse(start_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "DOMAINS", list(reversed(handlers.DOMAINS)))
    server: RunningServer = await start_server("sqlite")
    anon = await server.client()
    pair = await anon.ok("register", {"email": "rev@example.com", "name": "Rev", "password": PASSWORD})
    client = await server.client()
    await client.ok("login", {"email": "rev@example.com", "password": PASSWORD})
    assert (await client.ok("me"))["id"] == pair["user"]["id"]
    assert (await client.ok("join", {"room": "lobby"}))["history"] == 0
    assert (await client.inbox.wait_for("my_response", lambda d: d.get("data") == "Hey how may i help you")) == {
        "data": "Hey how may i help you"
    }
    admin, _ = await signed_in(server, "admin")
    await admin.ok("send_notification", {"to": {"user_ids": [pair["user"]["id"]]}, "title": "Hi", "body": "there"})
    note = await client.inbox.wait_for("notification")
    assert note["title"] == "Hi" and note["kind"] == "broadcast"


async def test_every_event_declares_a_model(server: RunningServer) -> None:
    untyped = sorted(name for name, model in server.deps.events.items() if model is None)
    assert not untyped, f"events without a payload model: {untyped}"
    assert len(server.deps.events) > 90


def test_pushes_of_the_converted_domains_are_declared() -> None:
    import models.accounts
    import models.chat
    import models.notify  # noqa: F401

    assert {"my_response", "session_ended", "notification", "notifications_read"} <= set(ALL_PUSHES)
    for push in ALL_PUSHES.values():
        assert push.bare or push.model.model_json_schema()["properties"], push.name  # bare: Dowell's empty push


def test_access_values_read_well() -> None:
    assert (str(ANONYMOUS), str(SIGNED_IN), str(ADMIN)) == ("anonymous", "signed_in", "roles(admin)")


async def test_dowell_envelope_declared_on_the_router(server: RunningServer) -> None:
    """What the ticket converter relies on: WORKSPACE_KEY access plus DowellEnvelope answers every failure twice."""
    from handlers.access import WORKSPACE_KEY
    from handlers.compat import DowellEnvelope
    from handlers.context import EventContext
    from handlers.events import EventRouter
    from models.support import TICKET_RESPONSE, KeyedPayload
    from tests.helpdesk_kit import admin_of, keyed, new_workspace

    router = EventRouter(server.deps)
    compat = DowellEnvelope(response=TICKET_RESPONSE, operation="probe", echo=True)

    @router.on("probe_compat", KeyedPayload, access=WORKSPACE_KEY, compat=compat)
    async def probe(ctx: EventContext, p: KeyedPayload) -> dict[str, Any]:
        assert ctx.workspace is not None and ctx.workspace.id == p.workspace_id
        return {"workspace": ctx.workspace.id}

    workspace, key = await new_workspace(await admin_of(server))
    old = await server.client()
    cases = [
        ({"workspace_id": workspace["id"]}, "invalid_payload", "Invalid Data"),
        (keyed(workspace, "dk_wrong"), "unauthorized", "Invalid API key"),
    ]
    for payload, code, sentence in cases:
        await old.error("probe_compat", payload, code)
        said = await old.inbox.wait_for("ticket_response", lambda d, s=sentence: d["data"] == s)
        assert said == {"data": sentence, "status": "failure", "operation": "probe"}
    data = await old.ok("probe_compat", keyed(workspace, key))
    said = await old.inbox.wait_for("ticket_response", lambda d: d["status"] == "success")
    assert said == {"data": data, "status": "success", "operation": "probe"} and data == {"workspace": workspace["id"]}
