"""The ticket domains' declarations: every push has a model, and ``mark_read`` picks its door by its payload."""

from __future__ import annotations

import models.helpdesk
import models.support
import models.widget  # noqa: F401
from models.pushes import ALL_PUSHES
from models.roles import Role
from tests.helpdesk_kit import admin_of, keyed, new_workspace, signed_in
from tests.helpers import RunningServer

TICKET_PUSHES = {
    "setting_response",
    "ticket_response",
    "ticket_message_response",
    "new_ticket",
    "workspace_key_revoked",
    "ticket_updated",
    "ticket_message",
    "typing",
    "ticket_read",
    "widget_message",
    "widget_ticket_closed",
}


def test_the_ticket_pushes_are_declared() -> None:
    assert TICKET_PUSHES <= set(ALL_PUSHES)


async def test_mark_read_with_a_key_is_the_dowell_read_even_from_a_signed_in_socket(server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(server))
    desk = await server.client()
    await desk.ok(
        "create_line_manager", keyed(workspace, key, user_id="lm", positions_in_a_line=1, average_serving_time=2)
    )
    ticket = await desk.ok("create_ticket", keyed(workspace, key, user_id="cust", product="p"))
    said = keyed(workspace, key, ticket_id=ticket["_id"], product="p", message_data="hi", user_id="lm")
    await desk.ok("ticket_message_event", said)
    agent, _ = await signed_in(server, Role.AGENT)
    reader = keyed(workspace, key, ticket_id=ticket["_id"], user_id="cust")
    data = await agent.ok("mark_read", reader)
    assert data == {"ticket_id": ticket["_id"], "user_id": "cust", "marked": 1}
    pushed = await agent.inbox.wait_for("ticket_message_response", lambda d: d["operation"] == "mark_read")
    assert pushed == {"data": data, "status": "success", "operation": "mark_read"}
    await agent.error("mark_read", {**reader, "api_key": "dk_wrong"}, "unauthorized")
    failed = await agent.inbox.wait_for("ticket_message_response", lambda d: d["status"] == "failure")
    assert failed == {"data": "Invalid API key", "status": "failure", "operation": "mark_read"}
    # without a key, a signed-in socket reads its own helpdesk tickets: a support ticket id is not one of them
    await agent.error("mark_read", {"ticket_id": ticket["_id"], "message_id": "m"}, "not_found")
    assert len(agent.inbox.of("ticket_message_response")) == 2


async def test_mark_read_field_errors_name_the_fields_as_sent(server: RunningServer) -> None:
    agent, _ = await signed_in(server, Role.AGENT)
    error = await agent.error("mark_read", {"ticket_id": "t"}, "invalid_payload")
    assert [d["field"] for d in error["details"]] == ["message_id"]
    error = await agent.error("mark_read", {"api_key": "k", "ticket_id": "t"}, "invalid_payload")
    assert {d["field"] for d in error["details"]} == {"workspace_id", "user_id"}
