"""Compatibility envelopes, now ordinary pushes: an outsider's failures reach the outsider only."""

from __future__ import annotations

import asyncio

from tests.helpdesk_kit import admin_of, keyed, new_workspace
from tests.helpers import RunningServer


async def test_a_wrong_key_failure_goes_to_the_caller_only(server: RunningServer) -> None:
    """A socket guessing a workspace's key is told "Invalid API key"; the workspace's sockets hear nothing."""
    workspace, key = await new_workspace(await admin_of(server))
    victim = await server.client()
    await victim.ok("create_topic", keyed(workspace, key, name="billing"))
    await victim.ok(
        "create_line_manager", keyed(workspace, key, user_id="m", positions_in_a_line=1, average_serving_time=1)
    )
    await victim.ok("get_all_topics", keyed(workspace, key))  # in the workspace's Dowell support room
    ticket = await victim.ok("create_ticket", keyed(workspace, key, user_id="u1", product="app"))
    attacker = await server.client()
    guesses = [
        ("get_all_topics", keyed(workspace, "dk_guess"), "setting_response"),
        ("create_ticket", keyed(workspace, "dk_guess", user_id="u1", product="app"), "ticket_response"),
        ("close_ticket", keyed(workspace, "dk_guess", ticket_id=ticket["_id"], product="app"), "ticket_response"),
    ]
    for event, payload, response in guesses:
        await attacker.error(event, payload, "unauthorized")
        said = await attacker.inbox.wait_for(response, lambda d: d["status"] == "failure")
        assert said["data"] == "Invalid API key" and set(said) == {"data", "status", "operation"}
    await asyncio.sleep(0.2)
    heard = [m for name in ("setting_response", "ticket_response") for m in victim.inbox.of(name)]
    assert [m for m in heard if m["status"] == "failure"] == [], "the attacker's failures reached the workspace"


async def test_another_workspaces_key_opens_nothing(server: RunningServer) -> None:
    """A valid key of workspace B sent with workspace A's id is refused, in both shapes, and writes nothing."""
    admin = await admin_of(server)
    mine, my_key = await new_workspace(admin, "Mine")
    theirs, their_key = await new_workspace(admin, "Theirs")
    outsider = await server.client()
    await outsider.error("create_ticket", keyed(theirs, my_key, user_id="u", product="app"), "unauthorized")
    said = await outsider.inbox.wait_for("ticket_response", lambda d: d["status"] == "failure")
    assert said == {"data": "Invalid API key", "status": "failure", "operation": "create_ticket"}
    insider = await server.client()
    assert await insider.ok("get_tickets", keyed(theirs, their_key, product="app")) == []
    assert await insider.ok("get_tickets", keyed(mine, my_key, product="app")) == []
