"""The embeddable support widget, dropped into a page and driven in headless Chromium."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path
from typing import Any

import aiohttp

from models.roles import Role
from tests.browser import PageServer, headless_chromium
from tests.helpdesk_kit import admin_of, keyed, signed_in
from tests.security.test_widget_token import opened, site_of, widget_headers

# The product page: one script tag, as the README shows, plus a driver that acts like a visitor.
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>A shop</title>
<h1>A shop that embeds Deskline</h1>
<script src="{server}/widget.js" async data-workspace-id="{workspace}" data-widget-token="{token}"
        data-product="shop" data-title="Shop help"></script>
<script type="module">
  const phase = new URLSearchParams(location.search).get("phase") || "first";
  const post = (body) => fetch("/result", {{ method: "POST", body: JSON.stringify({{ phase, ...body }}) }});
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  async function until(check, what) {{
    for (const end = Date.now() + 15000; Date.now() < end; await wait(25)) if (check()) return;
    throw new Error(`timed out waiting for ${{what}}: ${{root() && status()}}`);
  }}
  const root = () => document.getElementById("deskline-widget")?.shadowRoot;
  const status = () => root().querySelector(".status").textContent;
  const ticket = () => DesklineWidget.instance.ticketId;
  const sent = (text) => [...root().querySelectorAll(".message.mine")].some(
    (m) => m.querySelector(".body").textContent === text && m.dataset.state !== "pending");
  const texts = (side) => [...root().querySelectorAll(`.message.${{side}} .body`)].map((m) => m.textContent);
  try {{
    await until(() => root(), "the widget");
    root().querySelector(".bubble").click();
    if (phase === "first") {{
      await until(() => /Ask us anything/.test(status()), "connected");
      root().querySelector("#dl-input").value = "My order never arrived";
      root().querySelector("form.compose").requestSubmit();
      await until(() => sent("My order never arrived"), "my message");
      await until(() => !/Ask us anything/.test(status()), "the waiting time");
      await post({{ stage: "sent", ticket: ticket(), status: status() }});
      await until(() => texts("theirs").length > 0, "the agent's reply");
      await post({{ stage: "answered", mine: texts("mine"), theirs: texts("theirs") }});
      location.search = "?phase=again";
    }} else {{
      await until(() => texts("theirs").length > 0, "the conversation after a reload");
      await post({{ stage: "resumed", ticket: ticket(), mine: texts("mine"), theirs: texts("theirs") }});
      for (let go = false; !go; await wait(50)) go = (await fetch("/closed")).ok;  // the agent closes the ticket
      root().querySelector("#dl-input").value = "One more question";
      root().querySelector("form.compose").requestSubmit();
      await until(() => sent("One more question"), "a message after the close");
      await post({{ stage: "new ticket", ticket: ticket(), mine: texts("mine") }});
    }}
  }} catch (err) {{
    await post({{ stage: "failed", error: String(err) }});
  }}
</script>
"""


async def test_widget_script_is_served_as_javascript(server: Any) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/widget.js") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/javascript"
        assert "DesklineWidget" in await resp.text()


async def test_a_visitor_opens_a_ticket_gets_replies_live_finds_them_after_a_reload_and_starts_anew_after_close(
    start_server: Any, tmp_path: Path
) -> None:
    pages = PageServer({})  # no socket.io-client here: the widget loads the one Deskline serves
    server = await start_server("sqlite", cors_origins=pages.origin)
    admin = await admin_of(server)
    created = await admin.ok("create_workspace", {"name": "Acme", "products": ["shop"]})
    workspace, key, token = created["workspace"], created["api_key"], created["widget_token"]
    only_the_shop = {"workspace_id": workspace["id"], "allowed_origins": [pages.origin]}
    await admin.ok("update_widget_settings", only_the_shop)  # the browser's Origin is checked on connect
    agent = await server.client()  # an agent's Dowell frontend: the back-office API key stays here
    await agent.ok(
        "create_line_manager",
        keyed(workspace, key, user_id="lm-ana", positions_in_a_line=1, average_serving_time=4, ticket_count=0),
    )
    await agent.ok("create_topic", keyed(workspace, key, name="orders"))
    await agent.ok("get_all_topics", keyed(workspace, key))  # joins the workspace room: new tickets arrive live
    _, member = await signed_in(server, Role.AGENT)  # a member online: the widget offers the chat, not the form
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": member["user"]["id"]})
    pages.files["shop.html"] = PAGE.format(server=server.url, workspace=workspace["id"], token=token)
    assert key not in pages.files["shop.html"]

    async with pages, headless_chromium(f"{pages.origin}/shop.html", tmp_path / "profile"):
        sent = await pages.next_result()
        assert sent["stage"] == "sent", sent
        ticket = (await agent.inbox.wait_for("new_ticket", lambda m: m["data"]["_id"] == sent["ticket"]))["data"]
        assert ticket["line_manager"] == "lm-ana" and ticket["product"] == "shop"
        assert ticket["user_id"].startswith("visitor-")
        assert sent["status"] == "An agent will answer you shortly."
        history = await agent.ok("get_ticket_messages", keyed(workspace, key, ticket_id=ticket["_id"]))
        assert [(m["author"], m["message_data"]) for m in history] == [(ticket["user_id"], "My order never arrived")]

        reply = {"ticket_id": ticket["_id"], "product": "shop", "user_id": "lm-ana"}
        await agent.ok(
            "ticket_message_event", keyed(workspace, key, message_data="Sorry! Resending it today.", **reply)
        )
        answered = await pages.next_result()
        assert answered == {
            "phase": "first",
            "stage": "answered",
            "mine": ["My order never arrived"],
            "theirs": ["Sorry! Resending it today."],
        }

        resumed = await pages.next_result()
        assert resumed["stage"] == "resumed", resumed
        assert resumed["ticket"] == ticket["_id"]
        assert resumed["mine"] == ["My order never arrived"]
        assert resumed["theirs"] == ["Sorry! Resending it today."]

        closing = {"ticket_id": ticket["_id"], "line_manager": "lm-ana", "product": "shop"}
        await agent.ok("close_ticket", keyed(workspace, key, **closing))
        pages.files["closed"] = "yes"
        again = await pages.next_result()
        assert again["stage"] == "new ticket", again
        assert again["ticket"] not in (None, ticket["_id"])
        assert again["mine"] == ["My order never arrived", "One more question"]
        fresh = await agent.ok("get_ticket_messages", keyed(workspace, key, ticket_id=again["ticket"]))
        assert [m["message_data"] for m in fresh] == ["One more question"]
        assert (await agent.inbox.wait_for("new_ticket", lambda m: m["data"]["_id"] == again["ticket"]))["data"][
            "user_id"
        ] == ticket["user_id"]


async def test_widget_settings_are_for_admins_and_member_managers_only(server: Any) -> None:
    admin = await admin_of(server)
    created = await admin.ok("create_workspace", {"name": "Acme"})
    ws = {"workspace_id": created["workspace"]["id"]}
    manager, info = await signed_in(server, Role.MANAGER)
    agent, agent_info = await signed_in(server, Role.AGENT)
    await manager.error("get_widget_settings", ws, "forbidden")  # not a member yet
    await agent.error("get_widget_settings", ws, "forbidden")
    await admin.ok("add_workspace_member", {**ws, "user_id": info["user"]["id"]})
    await admin.ok("add_workspace_member", {**ws, "user_id": agent_info["user"]["id"]})
    await agent.error("rotate_widget_token", ws, "forbidden")  # agents are members but not in charge of it
    settings = await manager.ok("get_widget_settings", ws)
    assert settings == {
        **ws,
        "widget_token": created["widget_token"],
        "allowed_origins": [],
        "identity_verification": False,
        "color": "#2557d6",
        "title": None,
    }
    rotated = await manager.ok("rotate_widget_token", ws)
    assert rotated["widget_token"] != created["widget_token"]
    await admin.error("get_widget_settings", {"workspace_id": "missing"}, "not_found")
    anonymous = await server.client()
    await anonymous.error("get_widget_settings", ws, "unauthorized")
    key_rotated = await admin.ok("rotate_workspace_key", ws)
    assert (await admin.ok("get_widget_settings", ws))["widget_token"] == rotated["widget_token"]
    assert key_rotated["api_key"] != created["api_key"]


async def test_concurrent_opens_on_one_new_socket_make_one_visitor(any_server: Any) -> None:
    site = await site_of(any_server)
    for _ in range(3):  # a few fresh sockets, each racing several opens
        visitor = await site.visitor()
        answers = await asyncio.gather(*(visitor.ok("widget_open", {"product": "shop"}) for _ in range(4)))
        assert len({a["visitor_id"] for a in answers}) == 1, answers
        secrets = [a["visitor_secret"] for a in answers if "visitor_secret" in a]
        assert len(secrets) == 1, "the secret is issued once, with the one visitor"
        mine = await visitor.ok("widget_conversations")
        assert sorted(t["_id"] for t in mine) == sorted(a["ticket"]["_id"] for a in answers)
        again = await site.visitor(visitor_secret=secrets[0])  # the secret finds all four conversations
        assert len(await again.ok("widget_conversations")) == 4


async def turn_for(server: Any, headers: dict[str, str]) -> tuple[int, Any]:
    """GET /api/turn with ``headers``; return (status, JSON body)."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/turn", headers=headers) as resp:
        return resp.status, await resp.json()


async def test_a_widget_visitor_calls_its_workspaces_available_agents_and_gets_turn_without_a_key(
    start_server: Any, backend: str
) -> None:
    server = await start_server(backend, turn_secret="turn-secret", turn_uris="turn:turn.example.com:3478")
    site = await site_of(server)
    ws = {"workspace_id": site.workspace["id"]}
    (ana, a), (bo, b), (away, c), (outsider, _) = [await signed_in(server, Role.AGENT) for _ in range(4)]
    lead, lead_info = await signed_in(server, Role.MANAGER)
    for info in (a, b, c, lead_info):
        await site.admin.ok("add_workspace_member", {**ws, "user_id": info["user"]["id"]})
    await away.ok("set_status", {"status": "away"})
    visitor, opened_answer = await opened(site, "can we talk?")
    offer = {"media": "audio", "sdp": "v=0\r\n", "name": "Eve"}

    call = await visitor.ok("call_agents", offer)  # no workspace id, no key: the widget session says which
    assert sorted(call["invited"]) == sorted([a["user"]["id"], b["user"]["id"]])
    incoming = await ana.inbox.wait_for("call_incoming")
    assert (incoming["from_user"], incoming["from_name"], incoming["call_id"]) == (None, "Eve", call["id"])
    await bo.inbox.wait_for("call_incoming")
    await bo.ok("call_answer", {"call_id": call["id"], "sdp": "v=0\r\n"})
    await visitor.inbox.wait_for("call_answered")
    assert (await visitor.ok("call_hangup", {"call_id": call["id"]}))["state"] == "ended"
    await bo.inbox.wait_for("call_ended")
    for other in (away, outsider, lead):
        assert other.inbox.of("call_incoming") == []

    status, body = await turn_for(server, widget_headers(site, opened_answer["visitor_secret"]))
    assert status == 200 and body["username"].endswith(f":{opened_answer['visitor_id']}"), body
    secret = (await site.admin.ok("rotate_identity_secret", ws))["identity_secret"]
    digest = hmac.new(secret.encode(), b"cust-1", hashlib.sha256).hexdigest()
    customer = await site.visitor(identifier="cust-1", identifier_hash=digest)
    known = (await customer.ok("widget_open", {"product": "shop"}))["visitor_id"]
    pair = {"X-Widget-Token": site.token, "X-Identifier": "cust-1", "X-Identifier-Hash": digest}
    status, body = await turn_for(server, pair)
    assert status == 200 and body["username"].endswith(f":{known}"), body
