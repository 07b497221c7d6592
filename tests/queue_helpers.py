"""Building blocks the queue tests share: an office with a manager and seated agents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.roles import Role
from tests.conftest import signed_in
from tests.helpers import Client, RunningServer


@dataclass
class Staffed:
    """An office, its manager, and one agent seated at each window 1..n."""

    ref: str
    manager: Client
    manager_id: str
    agents: list[Client] = field(default_factory=list)
    agent_ids: list[str] = field(default_factory=list)


async def staffed_office(
    server: RunningServer, agents: int = 1, windows: int | None = None, name: str = "Main Office"
) -> Staffed:
    """Create a manager, an office, and ``agents`` agents seated at windows 1..agents."""
    manager, info = await signed_in(server, Role.MANAGER, "Mona Manager")
    office = await manager.ok(
        "create_office", {"name": name, "address": "1 Main St", "windows": windows or max(agents, 1)}
    )
    staffed = Staffed(ref=office["ref_office"], manager=manager, manager_id=info["user"]["id"])
    for i in range(agents):
        client, agent = await signed_in(server, Role.AGENT, f"Agent {i + 1}")
        await manager.ok(
            "assign_agent", {"office_id": staffed.ref, "number_window": i + 1, "agent_id": agent["user"]["id"]}
        )
        staffed.agents.append(client)
        staffed.agent_ids.append(agent["user"]["id"])
    return staffed


async def office_state(client: Client, ref: str) -> dict[str, Any]:
    """Return the office as anyone sees it (counter, windows)."""
    data = await client.ok("search_offices", {"q": ref})
    return next(o for o in data["offices"] if o["ref_office"] == ref)
