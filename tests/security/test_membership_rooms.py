"""Attack replays: rooms joined through a workspace's tickets (presence watching, ticket and subscription
rooms) end with the membership, even when the removal races the join."""

from __future__ import annotations

import asyncio

from models.roles import Role
from tests.helpdesk_kit import new_workspace, signed_in
from tests.helpers import Client, RunningServer
from tests.test_helpdesk import desk, ticket_payload

QUIET = 0.3  # long enough for a push that was sent to arrive
ROUNDS = 16  # removals raced against joins, each with the joins sent a little later than the last


def changes_of(socket: Client, user_id: str) -> list[str]:
    """Return the presence statuses of ``user_id`` the socket was told of, in order."""
    return [p["status"] for p in socket.inbox.of("presence_changed") if p["user_id"] == user_id]


async def test_a_removed_member_stops_watching_the_participants_they_no_longer_share_a_ticket_with(
    any_server: RunningServer,
) -> None:
    d = await desk(any_server, auto_assign=False)
    other, info = await signed_in(any_server, Role.CLIENT, name="other client")
    first, second = d.ids["client"], info["user"]["id"]
    shared = await d.client.ok("submit_ticket", ticket_payload(d.billing, "Here"))
    only_here = await other.ok("submit_ticket", ticket_payload(d.billing, "Only here"))
    elsewhere, _ = await new_workspace(d.admin, "Elsewhere", auto_assign=False)
    kept = await d.admin.ok("create_category", {"workspace_id": elsewhere["id"], "name": "Sales"})
    await d.admin.ok("add_workspace_member", {"workspace_id": elsewhere["id"], "user_id": d.ids["any_agent"]})
    await d.client.ok("submit_ticket", ticket_payload(kept, "There"))  # the agent still shares this one with them
    for ticket in (shared, only_here):
        for staff in (d.any_agent, d.manager):
            await staff.ok("get_ticket", {"ticket_id": ticket["id"]})  # both watch both clients now

    async def both_change(status: str) -> None:
        """Both clients change status; return once the manager (a member throughout) was told of both."""
        seen = (len(changes_of(d.manager, first)), len(changes_of(d.manager, second)))
        for client in (d.client, other):
            await client.ok("set_status", {"status": status})
        await d.manager.inbox.wait_for("presence_changed", lambda _: len(changes_of(d.manager, first)) > seen[0])
        await d.manager.inbox.wait_for("presence_changed", lambda _: len(changes_of(d.manager, second)) > seen[1])
        await asyncio.sleep(QUIET)

    await both_change("away")
    assert (changes_of(d.any_agent, first), changes_of(d.any_agent, second)) == (["away"], ["away"])
    await d.admin.ok("remove_workspace_member", {"workspace_id": d.workspace["id"], "user_id": d.ids["any_agent"]})
    await both_change("online")
    assert changes_of(d.any_agent, first) == ["away", "online"]  # still shares the Elsewhere ticket with them
    assert changes_of(d.any_agent, second) == ["away"]  # shares nothing more with the other client
    await d.admin.ok("delete_workspace", {"workspace_id": elsewhere["id"]})
    await both_change("away")
    assert (changes_of(d.any_agent, first), changes_of(d.any_agent, second)) == (["away", "online"], ["away"])


async def test_a_removal_racing_a_join_never_leaves_the_former_member_in_a_room(any_server: RunningServer) -> None:
    """The invariant, not a forced race: each round sends the joins a little later, landing them before, after
    or around the removal; whatever each answered, the former member must get nothing of the workspace after.

    The interleaving the re-check in ``get_ticket`` / ``subscribe_workspace`` guards (the removal's eviction
    running between the check and the join) cannot be forced without mocks: nothing awaits between the two
    in one process, so this test also passes with that re-check removed."""
    d = await desk(any_server, auto_assign=False)
    ws = {"workspace_id": d.workspace["id"]}
    agent, me = d.any_agent, d.ids["any_agent"]
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.tech, "Watched"))
    tid = {"ticket_id": ticket["id"]}
    await d.manager.ok("subscribe_workspace", ws)
    outcomes: set[tuple[bool, bool]] = set()
    for n in range(ROUNDS):
        await d.admin.ok("add_workspace_member", {**ws, "user_id": me})

        async def join(delay: float) -> tuple[bool, bool]:
            await asyncio.sleep(delay)
            got, subscribed = await asyncio.gather(agent.call("get_ticket", tid), agent.call("subscribe_workspace", ws))
            return bool(got["ok"]), bool(subscribed["ok"])

        outcome, _ = await asyncio.gather(join(n * 0.002), d.admin.ok("remove_workspace_member", {**ws, "user_id": me}))
        outcomes.add(outcome)
        message = await d.client.ok("send_ticket_message", {**tid, "body": f"round {n}"})
        created = await d.client.ok("submit_ticket", ticket_payload(d.tech, f"Round {n}"))
        await d.manager.inbox.wait_for("ticket_updated", lambda u, c=created: u["ticket"]["id"] == c["id"])
        await agent.ok("me")  # answered after any push already queued for this socket
        assert not any(m["message"]["id"] == message["id"] for m in agent.inbox.of("ticket_message")), (n, outcome)
        assert not any(u["ticket"]["id"] == created["id"] for u in agent.inbox.of("ticket_updated")), (n, outcome)
    assert (False, False) in outcomes  # some joins came after the removal (the others are timing-dependent)
