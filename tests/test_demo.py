"""The demo: ``python server.py --demo`` makes a workspace and two accounts, prints logins, serves /demo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import ServerProcess, connect_client, free_port

LOGIN = re.compile(r"demo login: role=(\w+) email=(\S+) password=(\S+)")


def logins(server: ServerProcess) -> dict[str, tuple[str, str]]:
    """Return the logins the server printed at its latest start, by role."""
    return {role: (email, password) for role, email, password in LOGIN.findall(server.log.read_text())}


async def page(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/demo") as resp:
        return resp.status, await resp.text()


async def test_the_printed_logins_work_and_a_visitor_reaches_the_agent(tmp_path: Path) -> None:
    env = {"DESKLINE_DATA_DIR": str(tmp_path / "data"), "DESKLINE_DEMO": "true", "DESKLINE_CORS_ORIGINS": "*"}
    server = await ServerProcess(env, free_port()).start(timeout=60)
    try:
        printed = logins(server)
        assert set(printed) == {"manager", "agent"}
        agent = await connect_client(server.url)
        email, password = printed["agent"]
        assert (await agent.call("login", {"email": email, "password": password}))["ok"] is True
        assert "password" not in re.sub(LOGIN, "", server.log.read_text())  # the passwords are not in the log lines

        status, html = await page(server.url)
        token = re.search(r'data-widget-token="(wt_[^"]+)"', html)
        assert status == 200 and token is not None and 'src="/widget.js"' in html and 'href="/agent"' in html
        workspace_id = re.search(r'data-workspace-id="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        visitor = await connect_client(server.url, auth={"widget_token": token.group(1)})
        opened = await visitor.call("widget_open", {"product": "demo"})
        assert opened["ok"] is True, opened
        ticket_id = opened["data"]["ticket"]["_id"]
        sent = await visitor.call("widget_send", {"ticket_id": ticket_id, "message_data": "Does it restore folders?"})
        assert sent["ok"] is True, sent

        listed = await agent.call("list_tickets", {})
        assert ticket_id in [t["id"] for t in listed["data"]["tickets"]]
        manager = await connect_client(server.url)
        email, password = printed["manager"]
        assert (await manager.call("login", {"email": email, "password": password}))["ok"] is True
        assert (await manager.call("list_categories", {"workspace_id": workspace_id}))["data"][0]["name"] == "General"
        for client in (agent, visitor, manager):
            await client.close()
    finally:
        server.stop()

    again = await ServerProcess(env, free_port(), ("--demo",)).start(timeout=60)  # the flag, on the same data
    try:
        now = logins(again)  # the latest start's lines come last in the log
        assert now["agent"][1] != printed["agent"][1]
        status, html = await page(again.url)
        assert status == 200 and f'data-workspace-id="{workspace_id}"' in html  # the same workspace, found again
        agent = await connect_client(again.url)
        old = await agent.call("login", {"email": printed["agent"][0], "password": printed["agent"][1]})
        assert old["ok"] is False and old["error"]["code"] == "unauthorized"
        assert (await agent.call("login", {"email": now["agent"][0], "password": now["agent"][1]}))["ok"] is True
        assert len((await agent.call("list_tickets", {}))["data"]["tickets"]) == 1  # nothing made twice
        await agent.close()
    finally:
        again.stop()


async def test_without_the_demo_there_is_no_demo_page(server: Any) -> None:
    status, _ = await page(server.url)
    assert status == 404
    assert server.deps.services.demo.site is None


async def test_making_the_demo_again_finds_it_on_both_backends(start_server: Any, backend: str) -> None:
    server = await start_server(backend, demo=True)
    first = server.deps.services.demo.site
    second = await server.deps.services.demo.ensure()
    assert (second.workspace_id, second.widget_token) == (first.workspace_id, first.widget_token)
    members = await server.deps.services.workspaces.store.list_members(first.workspace_id)
    assert sorted(m.role for m in members) == ["agent", "manager"]
    assert len(await server.deps.services.helpdesk.categories(first.workspace_id)) == 1
    status, html = await page(server.url)
    assert status == 200 and second.widget_token in html
    agent = await server.client()
    login = next(x for x in second.logins if x.role == "agent")
    assert (await agent.ok("login", {"email": login.email, "password": login.password}))["user"]["role"] == "agent"
