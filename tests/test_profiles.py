"""Profiles: get and update one's own, a picture uploaded as an attachment, colleagues see it; both backends."""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import admin_of, new_workspace, signed_in
from tests.helpers import Client, RunningServer
from tests.security.test_widget_token import opened, site_of, widget_headers
from tests.test_attachments import bearer, download, upload

# Real headers of each format, then filler: the server checks the first bytes, not the whole image.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
GIF = b"GIF89a" + b"\x00" * 200
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 200


async def colleagues(server: RunningServer) -> tuple[Client, dict[str, Any], Client, dict[str, Any], str]:
    """An agent and a manager, members of one workspace; return them, their infos and the workspace id."""
    admin = await admin_of(server)
    workspace, _ = await new_workspace(admin)
    agent, agent_info = await signed_in(server, Role.AGENT, name="Ana Agent")
    manager, manager_info = await signed_in(server, Role.MANAGER, name="Max Manager")
    for info in (agent_info, manager_info):
        await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": info["user"]["id"]})
    return agent, agent_info, manager, manager_info, workspace["id"]


async def picture(
    server: RunningServer, info: dict[str, Any], data: bytes = PNG, content_type: str = "image/png"
) -> str:
    """Upload ``data`` as the user and return the upload's id."""
    status, body = await upload(server, bearer(info), data, content_type, "me.png")
    assert status == 201, body
    return str(body["id"])


async def test_a_user_edits_their_profile_and_their_sockets_and_colleagues_hear_it(any_server: RunningServer) -> None:
    agent, info, manager, _, workspace_id = await colleagues(any_server)
    await manager.ok("subscribe_workspace", {"workspace_id": workspace_id})
    outsider, outsider_info = await signed_in(any_server, Role.MANAGER)
    admin = await admin_of(any_server)
    elsewhere, _ = await new_workspace(admin, "Elsewhere")
    await admin.ok("add_workspace_member", {"workspace_id": elsewhere["id"], "user_id": outsider_info["user"]["id"]})
    await outsider.ok("subscribe_workspace", {"workspace_id": elsewhere["id"]})
    user_id = info["user"]["id"]
    empty = await agent.ok("get_profile", {})
    assert empty == {
        "user_id": user_id,
        "name": "Ana Agent",
        "role": "agent",
        "city": "",
        "region": "",
        "picture_attachment_id": None,
        "picture_url": None,
        "updated_at": None,
    }
    other_tab = await any_server.client(token=info["access_token"])
    changed = await agent.ok("update_profile", {"name": " Ana Silva ", "city": "Lisbon", "region": "Lisboa"})
    assert (changed["name"], changed["city"], changed["region"]) == ("Ana Silva", "Lisbon", "Lisboa")
    assert changed["updated_at"] is not None
    assert await other_tab.inbox.wait_for("profile_updated") == changed
    assert await manager.inbox.wait_for("profile_updated") == changed
    assert await agent.ok("get_profile", {"user_id": user_id}) == changed
    assert (await agent.ok("me"))["name"] == "Ana Silva"
    only_city = await agent.ok("update_profile", {"city": "Porto"})
    assert (only_city["name"], only_city["city"], only_city["region"]) == ("Ana Silva", "Porto", "Lisboa")
    await manager.inbox.wait_count("profile_updated", 2)
    assert outsider.inbox.of("profile_updated") == []


async def test_a_picture_is_shown_to_colleagues_and_a_replaced_one_is_let_go(any_server: RunningServer) -> None:
    agent, info, manager, manager_info, _ = await colleagues(any_server)
    first = await picture(any_server, info)
    profile = await agent.ok("update_profile", {"picture_attachment_id": first})
    assert profile["picture_attachment_id"] == first and profile["picture_url"] == f"/api/attachments/{first}"
    seen = await manager.ok("get_profile", {"user_id": info["user"]["id"]})
    assert seen["picture_url"] == profile["picture_url"] and seen["name"] == "Ana Agent"
    for viewer in (info, manager_info):
        status, data, headers = await download(any_server, first, bearer(viewer))
        assert (status, data, headers["Content-Type"]) == (200, PNG, "image/png")
    assert (await any_server.deps.services.attachments.store.get(first)).ticket_id == info["user"]["id"]

    for data, kind in ((JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")):
        later = await picture(any_server, info, data, kind)
        assert (await agent.ok("update_profile", {"picture_attachment_id": later}))["picture_attachment_id"] == later
    assert (await any_server.deps.services.attachments.store.get(first)).ticket_id is None  # expires like any upload
    assert (await agent.ok("update_profile", {"remove_picture": True}))["picture_url"] is None
    assert (await any_server.deps.services.attachments.store.get(later)).ticket_id is None


async def test_only_small_real_images_of_ones_own_become_a_picture(start_server: Any, backend: str) -> None:
    server = await start_server(backend, profile_picture_max_bytes=1000)
    agent, info, *_ = await colleagues(server)
    not_images = [
        (b"just some text", "text/plain"),
        (b"%PDF-1.7 " + b"0" * 100, "application/pdf"),
        (b"<svg onload=alert(1)>" + b" " * 100, "image/png"),  # says PNG, is not
        (JPEG, "image/png"),  # an image, but not the type it claims
    ]
    for data, kind in not_images:
        upload_id = await picture(server, info, data, kind)
        error = await agent.error("update_profile", {"picture_attachment_id": upload_id}, "invalid_payload")
        assert error["details"][0]["type"] == "not_an_image", (kind, error)
    big = await picture(server, info, PNG + b"\x00" * 1000)
    error = await agent.error("update_profile", {"picture_attachment_id": big}, "invalid_payload")
    assert error["details"][0]["type"] == "too_large"
    await agent.error("update_profile", {"picture_attachment_id": "f" * 24}, "not_found")
    await agent.error("update_profile", {"city": "x" * 101}, "invalid_payload")
    await agent.error("update_profile", {"name": "   "}, "invalid_payload")
    await agent.error("update_profile", {"nickname": "Ana"}, "invalid_payload")
    both = {"picture_attachment_id": big, "remove_picture": True}
    await agent.error("update_profile", both, "invalid_payload")
    assert (await agent.ok("get_profile", {}))["picture_url"] is None  # nothing of the refused changes was kept


async def test_a_widget_visitor_sees_the_answering_agents_name_and_picture(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    agent, info = await signed_in(any_server, Role.AGENT, name="Ana Agent")
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": info["user"]["id"]})
    photo = await picture(any_server, info)
    await agent.ok("update_profile", {"picture_attachment_id": photo, "name": "Ana from Support"})
    visitor, opened_ = await opened(site, "where is my order?")
    other_tab = await site.visitor(visitor_secret=opened_["visitor_secret"])
    ticket_id = opened_["ticket"]["_id"]
    await visitor.ok("widget_send", {"ticket_id": ticket_id, "message_data": "hello?"})
    own = await other_tab.inbox.wait_for("widget_message", lambda m: m["message_data"] == "hello?")
    assert own["author_name"] is None and "author_picture" not in own  # the visitor's own message: no author card

    await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "It ships today"})
    answer = await visitor.inbox.wait_for("widget_message", lambda m: m["message_data"] == "It ships today")
    assert (answer["author"], answer["author_name"]) == (info["user"]["id"], "Ana from Support")
    assert answer["author_picture"] == f"/api/attachments/{photo}"
    status, data, _ = await download(any_server, photo, widget_headers(site, opened_["visitor_secret"]))
    assert (status, data) == (200, PNG)
