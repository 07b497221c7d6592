"""Attacks on profiles: who may read a profile and download its picture, whose upload becomes a picture."""

from __future__ import annotations

from models.roles import Role
from tests.helpdesk_kit import admin_of, new_workspace, signed_in
from tests.helpers import RunningServer
from tests.security.test_widget_token import opened, site_of, widget_headers
from tests.test_attachments import bearer, download
from tests.test_helpdesk import desk, ticket_payload
from tests.test_profiles import PNG, colleagues, picture


async def test_strangers_clients_and_other_workspaces_see_no_profile_nor_picture(any_server: RunningServer) -> None:
    agent, info, manager, manager_info, workspace_id = await colleagues(any_server)
    user_id = info["user"]["id"]
    photo = await picture(any_server, info)
    await manager.ok("subscribe_workspace", {"workspace_id": workspace_id})
    await agent.ok("update_profile", {"picture_attachment_id": photo, "city": "Lisbon"})
    await manager.inbox.wait_for("profile_updated")

    anonymous = await any_server.client()
    await anonymous.error("get_profile", {"user_id": user_id}, "unauthorized")
    await anonymous.error("update_profile", {"city": "x"}, "unauthorized")
    client, client_info = await signed_in(any_server, Role.CLIENT)
    elsewhere, elsewhere_info = await signed_in(any_server, Role.AGENT)  # staff, but of no shared workspace
    other_admin = await admin_of(any_server)
    other_ws, other_key = await new_workspace(other_admin, "Other")
    await other_admin.ok(
        "add_workspace_member", {"workspace_id": other_ws["id"], "user_id": elsewhere_info["user"]["id"]}
    )
    for outsider, outsider_info in ((client, client_info), (elsewhere, elsewhere_info)):
        error = await outsider.error("get_profile", {"user_id": user_id}, "not_found")
        assert "Lisbon" not in str(error)
        assert (await download(any_server, photo, bearer(outsider_info)))[0] == 404
    # another workspace's key, and a made-up user id, get the same answers as anything unknown
    key_headers = {"X-Workspace-Id": other_ws["id"], "X-Api-Key": other_key}
    assert (await download(any_server, photo, key_headers))[0] == 404
    await manager.error("get_profile", {"user_id": "f" * 24}, "not_found")
    # an admin sees everyone
    assert (await other_admin.ok("get_profile", {"user_id": user_id}))["city"] == "Lisbon"

    # a removed member stops seeing their former colleague at once
    await other_admin.ok(
        "remove_workspace_member", {"workspace_id": workspace_id, "user_id": manager_info["user"]["id"]}
    )
    await manager.error("get_profile", {"user_id": user_id}, "not_found")
    assert (await download(any_server, photo, bearer(manager_info)))[0] == 404
    assert (await download(any_server, photo, bearer(info)))[0] == 200  # the owner still does
    await agent.ok("update_profile", {"city": "Porto"})
    await agent.inbox.wait_count("profile_updated", 2)
    assert len(manager.inbox.of("profile_updated")) == 1  # out of the workspace's room with the membership


async def test_nobody_makes_someone_elses_upload_or_a_tickets_file_their_picture(any_server: RunningServer) -> None:
    d = await desk(any_server)
    victim_info = {"access_token": d.tokens["client"]}
    theirs = await picture(any_server, victim_info)
    await d.billing_agent.error("update_profile", {"picture_attachment_id": theirs}, "not_found")
    assert (await any_server.deps.services.attachments.store.get(theirs)).ticket_id is None

    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing, attachments=[theirs]))
    await d.client.error("update_profile", {"picture_attachment_id": theirs}, "conflict")
    assert (await any_server.deps.services.attachments.store.get(theirs)).ticket_id == ticket["id"]
    # and a picture in use cannot be slipped into a ticket afterwards
    mine = await picture(any_server, victim_info)
    await d.client.ok("update_profile", {"picture_attachment_id": mine})
    await d.client.error("submit_ticket", ticket_payload(d.billing, attachments=[mine]), "conflict")


async def test_widget_visitors_see_their_workspaces_staff_pictures_only(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    member, member_info = await signed_in(any_server, Role.AGENT)
    outsider, outsider_info = await signed_in(any_server, Role.AGENT)
    await site.admin.ok(
        "add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": member_info["user"]["id"]}
    )
    staff_photo, outside_photo = await picture(any_server, member_info), await picture(any_server, outsider_info)
    await member.ok("update_profile", {"picture_attachment_id": staff_photo})
    await outsider.ok("update_profile", {"picture_attachment_id": outside_photo})

    _, answer = await opened(site, "hello")
    headers = widget_headers(site, answer["visitor_secret"])
    status, data, _ = await download(any_server, staff_photo, headers)
    assert (status, data) == (200, PNG)
    assert (await download(any_server, outside_photo, headers))[0] == 404
    other_site = await site_of(any_server)
    _, stranger = await opened(other_site, "hi")
    assert (await download(any_server, staff_photo, widget_headers(other_site, stranger["visitor_secret"])))[0] == 404
    assert (await download(any_server, staff_photo, {"X-Widget-Token": site.token}))[0] == 401
