"""Attack replays against the public widget token: it opens a conversation and nothing of the back office.

On today's main the widget carried the workspace's Dowell API key, so every attack below succeeded with it.
Here the page holds only the widget token, which each test uses where the API key would go.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio

from models.roles import Role
from tests.helpdesk_kit import admin_of, keyed, signed_in
from tests.helpers import Client, RunningServer, refusal
from tests.test_attachments import download, upload

SHOP = "https://shop.example.com"


@dataclass
class Site:
    """A workspace embedding the widget: its admin, back-office key, public token and an agent keyed like Dowell."""

    server: RunningServer
    admin: Client
    workspace: dict[str, Any]
    key: str
    token: str
    agent: Client

    async def visitor(self, **auth: Any) -> Client:
        """Return a widget socket connected with the public token (and any visitor credentials)."""
        return await self.server.client(auth={"widget_token": self.token, **auth})

    def keyed(self, **fields: Any) -> dict[str, Any]:
        """A Dowell payload with the real back-office key."""
        return keyed(self.workspace, self.key, **fields)


async def site_of(server: RunningServer) -> Site:
    admin = await admin_of(server)
    created = await admin.ok("create_workspace", {"name": "Shop", "products": ["shop"]})
    workspace, key, token = created["workspace"], created["api_key"], created["widget_token"]
    assert token.startswith("wt_") and token != key
    agent = await server.client()
    manager = {"user_id": "lm-ana", "positions_in_a_line": 1, "average_serving_time": 3, "ticket_count": 0}
    await agent.ok("create_line_manager", keyed(workspace, key, **manager))
    return Site(server, admin, workspace, key, token, agent)


async def opened(site: Site, text: str) -> tuple[Client, dict[str, Any]]:
    """A new visitor opens a conversation and writes ``text``; return their socket and the open answer."""
    visitor = await site.visitor()
    answer = await visitor.ok("widget_open", {"product": "shop"})
    assert answer["visitor_secret"].startswith("vs_") and answer["ticket"]["user_id"] == answer["visitor_id"]
    await visitor.ok("widget_send", {"ticket_id": answer["ticket"]["_id"], "message_data": text})
    return visitor, answer


def widget_headers(site: Site, secret: str) -> dict[str, str]:
    return {"X-Widget-Token": site.token, "X-Visitor-Secret": secret}


async def test_the_widget_token_alone_reaches_nothing_of_the_back_office(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    victim, theirs = await opened(site, "my card number ends in 4242")
    ticket = theirs["ticket"]
    victim_headers = widget_headers(site, theirs["visitor_secret"])
    status, upload_body = await upload(any_server, victim_headers, b"passport", "text/plain")
    assert status == 201, upload_body

    attacker = await site.visitor()  # exactly what any page visitor holds
    as_key = keyed(site.workspace, site.token)  # the token where the Dowell API key would go
    ref = {"ticket_id": ticket["_id"], "product": "shop"}
    attacks = [
        ("get_tickets", {**as_key, "product": "shop"}),
        ("get_ticket_messages", {**as_key, **ref}),
        ("ticket_message_event", {**as_key, **ref, "message_data": "click evil.example", "user_id": "lm-ana"}),
        ("close_ticket", {**as_key, **ref, "line_manager": "lm-ana"}),
        ("create_line_manager", {**as_key, "user_id": "lm-evil", "positions_in_a_line": 0, "average_serving_time": 0}),
        ("get_all_line_managers", as_key),
    ]
    for event, payload in attacks:
        await attacker.error(event, payload, "unauthorized")
    assert attacker.inbox.of("ticket_message_response") == [] or all(
        r["status"] == "failure" for r in attacker.inbox.of("ticket_message_response")
    )

    assert await attacker.ok("widget_conversations") == []
    await attacker.error("widget_messages", {"ticket_id": ticket["_id"]}, "unauthorized")
    await attacker.error("widget_send", {"ticket_id": ticket["_id"], "message_data": "hi"}, "unauthorized")
    await attacker.error("widget_waiting_time", {"ticket_id": ticket["_id"]}, "unauthorized")

    as_key_headers = {"X-Workspace-Id": site.workspace["id"], "X-Api-Key": site.token}
    assert (await download(any_server, upload_body["id"], as_key_headers))[0] == 401
    assert (await download(any_server, upload_body["id"], {"X-Widget-Token": site.token}))[0] == 401
    assert (await upload(any_server, {"X-Widget-Token": site.token}, b"x", "text/plain"))[0] == 401

    # nothing changed: the ticket is open, holds only the victim's message, and no manager was added
    history = await site.agent.ok("get_ticket_messages", site.keyed(**ref))
    assert [m["message_data"] for m in history] == ["my card number ends in 4242"]
    managers = await site.agent.ok("get_all_line_managers", site.keyed())
    assert [m["user_id"] for m in managers] == ["lm-ana"]
    assert (await victim.ok("widget_waiting_time", {"ticket_id": ticket["_id"]}))["tickets_ahead"] == 0


async def test_one_visitor_cannot_read_write_or_download_anothers_conversation(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    alice, a = await opened(site, "alice here")
    bob, b = await opened(site, "bob here")
    status, bobs_file = await upload(any_server, widget_headers(site, b["visitor_secret"]), b"bob's id", "text/plain")
    assert status == 201
    bob_ticket = b["ticket"]["_id"]

    assert [t["_id"] for t in await alice.ok("widget_conversations")] == [a["ticket"]["_id"]]
    await alice.error("widget_messages", {"ticket_id": bob_ticket}, "not_found")
    await alice.error("widget_send", {"ticket_id": bob_ticket, "message_data": "I am bob"}, "not_found")
    await alice.error("widget_waiting_time", {"ticket_id": bob_ticket}, "not_found")
    steal = {"ticket_id": a["ticket"]["_id"], "message_data": "mine now", "attachments": [bobs_file["id"]]}
    await alice.error("widget_send", steal, "not_found")
    alice_headers = widget_headers(site, a["visitor_secret"])
    assert (await download(any_server, bobs_file["id"], alice_headers))[0] == 404

    # a reconnect with Alice's secret is still Alice, and still sees only her conversation
    again = await site.visitor(visitor_secret=a["visitor_secret"])
    assert [t["_id"] for t in await again.ok("widget_conversations")] == [a["ticket"]["_id"]]
    await again.error("widget_messages", {"ticket_id": bob_ticket}, "not_found")

    # Bob's file, once in his ticket, is his and the agents' to download, never Alice's
    await bob.ok("widget_send", {"ticket_id": bob_ticket, "message_data": "my id", "attachments": [bobs_file["id"]]})
    assert (await download(any_server, bobs_file["id"], widget_headers(site, b["visitor_secret"])))[:2] == (
        200,
        b"bob's id",
    )
    by_key = {"X-Workspace-Id": site.workspace["id"], "X-Api-Key": site.key}
    assert (await download(any_server, bobs_file["id"], by_key))[0] == 200
    assert (await download(any_server, bobs_file["id"], alice_headers))[0] == 404

    # an agent's reply reaches Bob's sockets live, and no other visitor's
    reply = site.keyed(ticket_id=bob_ticket, product="shop", message_data="we see it", user_id="lm-ana")
    await site.agent.ok("ticket_message_event", reply)
    pushed = await bob.inbox.wait_for("widget_message", lambda m: m["message_data"] == "we see it")
    assert pushed["ticket_id"] == bob_ticket
    await again.ok("widget_conversations")  # a round trip: a push to Alice would have arrived by now
    assert alice.inbox.of("widget_message") == [] and again.inbox.of("widget_message") == []


async def test_a_rotated_token_or_a_wrong_visitor_secret_is_refused(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await opened(site, "hello")
    secret = answer["visitor_secret"]

    refused = await refusal(any_server.url, {"widget_token": site.token, "visitor_secret": secret + "x"})
    assert refused["data"]["code"] == "unauthorized"
    assert (await refusal(any_server.url, {"widget_token": site.token + "x"}))["data"]["code"] == "unauthorized"
    assert (await refusal(any_server.url, {"widget_token": site.key}))["data"]["code"] == "unauthorized"  # the API key
    wrong = {"X-Widget-Token": site.token, "X-Visitor-Secret": secret + "x"}
    assert (await upload(any_server, wrong, b"x", "text/plain"))[0] == 401

    outsider, _ = await signed_in(any_server, Role.MANAGER)
    await outsider.error("rotate_widget_token", {"workspace_id": site.workspace["id"]}, "forbidden")
    await visitor.error("rotate_widget_token", {"workspace_id": site.workspace["id"]}, "unauthorized")
    settings = await site.admin.ok("rotate_widget_token", {"workspace_id": site.workspace["id"]})
    new_token = settings["widget_token"]
    assert new_token.startswith("wt_") and new_token != site.token

    revoked = await visitor.inbox.wait_for("widget_token_revoked")
    assert revoked["workspace_id"] == site.workspace["id"]
    for _ in range(100):
        if not visitor.sio.connected:
            break
        await asyncio.sleep(0.05)
    assert not visitor.sio.connected, "the socket that connected with the old token is ended"
    assert (await refusal(any_server.url, {"widget_token": site.token, "visitor_secret": secret}))["data"]["code"] == (
        "unauthorized"
    )
    assert (await upload(any_server, {"X-Widget-Token": site.token, "X-Visitor-Secret": secret}, b"x", "text/plain"))[
        0
    ] == 401

    # the visitor's secret outlives the rotation: with the new token they find their conversation again
    back = await any_server.client(auth={"widget_token": new_token, "visitor_secret": secret})
    assert [t["_id"] for t in await back.ok("widget_conversations")] == [answer["ticket"]["_id"]]


async def test_a_site_not_in_the_allowed_origins_is_refused_on_connect(server: RunningServer) -> None:
    site = await site_of(server)
    ws = site.workspace["id"]
    bad = {"workspace_id": ws, "allowed_origins": ["javascript:alert(1)"]}
    await site.admin.error("update_widget_settings", bad, "invalid_payload")
    allowed = {"workspace_id": ws, "allowed_origins": ["https://Shop.example.com/"]}
    settings = await site.admin.ok("update_widget_settings", allowed)
    assert settings["allowed_origins"] == ["https://shop.example.com"]

    async def attempt(origin: str | None) -> Any:
        sio = socketio.AsyncClient(reconnection=False)
        said: list[Any] = []
        sio.on("connect_error", lambda data: said.append(data))
        headers = {"Origin": origin} if origin else {}
        try:
            await sio.connect(server.url, auth={"widget_token": site.token}, headers=headers, transports=["websocket"])
        except socketio.exceptions.ConnectionError:
            return said[-1] if said else "refused"
        await sio.disconnect()
        return "connected"

    assert (await attempt("https://evil.example.com"))["data"]["code"] == "forbidden"
    assert (await attempt(None))["data"]["code"] == "forbidden"
    assert await attempt("https://shop.example.com") == "connected"
    evil = {"X-Widget-Token": site.token, "Origin": "https://evil.example.com"}
    assert (await upload(server, evil, b"x", "text/plain"))[0] == 403

    await site.admin.ok("update_widget_settings", {"workspace_id": ws, "allowed_origins": []})
    assert await attempt("https://evil.example.com") == "connected", "an empty list lets any site embed it"


def signed(secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


async def test_identity_verification_gives_one_customer_their_history_on_any_device(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    ws = site.workspace["id"]
    unverifiable = {"widget_token": site.token, "identifier": "cust-7", "identifier_hash": "00" * 32}
    assert (await refusal(any_server.url, unverifiable))["data"]["code"] == "unauthorized"  # verification is off
    secret = (await site.admin.ok("rotate_identity_secret", {"workspace_id": ws}))["identity_secret"]
    assert (await site.admin.ok("get_widget_settings", {"workspace_id": ws}))["identity_verification"] is True
    assert secret not in str(await site.admin.ok("get_widget_settings", {"workspace_id": ws}))

    forged = {"widget_token": site.token, "identifier": "cust-7", "identifier_hash": signed(secret, "cust-8")}
    assert (await refusal(any_server.url, forged))["data"]["code"] == "unauthorized"
    half = {"widget_token": site.token, "identifier": "cust-7"}
    assert (await refusal(any_server.url, half))["data"]["code"] == "unauthorized"

    proof = {"identifier": "cust-7", "identifier_hash": signed(secret, "cust-7")}
    laptop = await site.visitor(**proof)
    answer = await laptop.ok("widget_open", {"product": "shop"})
    await laptop.ok("widget_send", {"ticket_id": answer["ticket"]["_id"], "message_data": "from my laptop"})
    phone = await site.visitor(**proof)  # shares no secret with the laptop
    [ticket] = await phone.ok("widget_conversations")
    assert ticket["_id"] == answer["ticket"]["_id"]
    history = await phone.ok("widget_messages", {"ticket_id": ticket["_id"]})
    assert [m["message_data"] for m in history] == ["from my laptop"]
    second = await phone.ok("widget_open", {"product": "shop"})
    assert second["visitor_id"] == answer["visitor_id"] and "visitor_secret" not in second

    other = await site.visitor(identifier="cust-8", identifier_hash=signed(secret, "cust-8"))
    assert await other.ok("widget_conversations") == []
    await other.error("widget_messages", {"ticket_id": ticket["_id"]}, "unauthorized")
    assert (await other.ok("widget_open", {"product": "shop"}))["visitor_id"] != answer["visitor_id"]
    await other.error("widget_messages", {"ticket_id": ticket["_id"]}, "not_found")

    await site.admin.ok("rotate_identity_secret", {"workspace_id": ws})
    assert (await refusal(any_server.url, {"widget_token": site.token, **proof}))["data"]["code"] == "unauthorized"
    await phone.inbox.wait_for("widget_token_revoked")


async def test_calls_and_turn_need_the_visitor_and_never_take_the_widget_token_as_the_api_key(
    start_server: Any, backend: str
) -> None:
    server = await start_server(backend, turn_secret="turn-secret", turn_uris="turn:turn.example.com:3478")
    site = await site_of(server)
    agent, info = await signed_in(server, Role.AGENT)
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": info["user"]["id"]})
    visitor, answer = await opened(site, "hello")
    offer = {"media": "audio", "sdp": "v=0\r\n"}

    anonymous = await site.visitor()  # the page's token and nothing else
    await anonymous.error("call_agents", offer, "unauthorized")
    await anonymous.error("call_agents", {**offer, **keyed(site.workspace, site.token)}, "unauthorized")
    await visitor.error("call_agents", {**offer, **keyed(site.workspace, site.token)}, "unauthorized")
    await (await server.client()).error("call_agents", offer, "unauthorized")  # a bare socket, as before

    async def turn_status(headers: dict[str, str]) -> int:
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/turn", headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 200 or ("username" not in body and "credential" not in body), body
            return resp.status

    secret = answer["visitor_secret"]
    assert await turn_status(widget_headers(site, secret)) == 200
    assert await turn_status(widget_headers(site, secret + "x")) == 401  # a wrong visitor secret
    assert await turn_status(widget_headers(site, "vs_" + "a" * 43)) == 401
    assert await turn_status({"X-Widget-Token": site.token}) == 401  # the token alone
    assert await turn_status({"X-Workspace-Id": site.workspace["id"], "X-Api-Key": site.token}) == 401
    await site.admin.ok("update_widget_settings", {"workspace_id": site.workspace["id"], "allowed_origins": [SHOP]})
    assert await turn_status({**widget_headers(site, secret), "Origin": "https://evil.example.com"}) == 403
    assert await turn_status({**widget_headers(site, secret), "Origin": SHOP}) == 200

    await site.admin.ok("rotate_widget_token", {"workspace_id": site.workspace["id"]})
    assert await turn_status(widget_headers(site, secret)) == 401  # the old token, even with the right secret
    assert agent.inbox.of("call_incoming") == []
