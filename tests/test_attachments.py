"""Attachments up and down over HTTP, with the limits, on both backends."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp

from models.roles import Role
from tests.helpdesk_kit import admin_of, keyed, new_workspace, signed_in
from tests.helpers import RunningServer
from tests.test_helpdesk import desk, ticket_payload

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(600 * 1024)


def bearer(info: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['access_token']}"}


async def upload(
    server: RunningServer,
    headers: dict[str, str],
    data: bytes = PNG,
    content_type: str = "image/png",
    name: str = "shot.png",
    field: str = "file",
) -> tuple[int, Any]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(field, data, filename=name, content_type=content_type)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/attachments", data=form, headers=headers) as resp:
            return resp.status, await resp.json()


async def download(server: RunningServer, attachment_id: str, headers: dict[str, str]) -> tuple[int, bytes, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/attachments/{attachment_id}", headers=headers) as resp:
            return resp.status, await resp.read(), resp.headers


async def test_upload_and_stream_back_then_share_through_a_ticket(any_server: RunningServer) -> None:
    d = await desk(any_server)
    client_info = {"access_token": d.tokens["client"]}
    status, body = await upload(any_server, bearer(client_info), name="..\\..\\etc/shot.png")
    assert status == 201 and body == {
        "id": body["id"],
        "name": "shot.png",
        "size": len(PNG),
        "content_type": "image/png",
    }
    status, data, headers = await download(any_server, body["id"], bearer(client_info))
    assert status == 200 and data == PNG
    assert headers["Content-Type"] == "image/png" and headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in headers["Content-Disposition"]

    _, agent_info = await signed_in(any_server, Role.AGENT)
    assert (await download(any_server, body["id"], bearer(agent_info)))[0] == 404
    assert (await download(any_server, body["id"], {}))[0] == 401
    assert (await download(any_server, body["id"], {"Authorization": "Bearer nope"}))[0] == 401
    assert (await download(any_server, "0" * 24, bearer(client_info)))[0] == 404

    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing, attachments=[body["id"]]))
    assert ticket["attachments"] == [body["id"]]
    assignee_token = d.tokens["billing_agent"]
    assert (await download(any_server, body["id"], {"Authorization": f"Bearer {assignee_token}"}))[1] == PNG
    assert (await download(any_server, body["id"], bearer(agent_info)))[0] == 404
    await d.client.error("submit_ticket", ticket_payload(d.billing, attachments=[body["id"]]), "conflict")

    status, note = await upload(any_server, bearer(client_info), b"see log", "text/plain", "log.txt")
    assert status == 201 and note["size"] == 7
    message = await d.client.ok(
        "send_ticket_message", {"ticket_id": ticket["id"], "body": "log", "attachments": [note["id"]]}
    )
    assert message["attachments"] == [note["id"]]
    assert (await download(any_server, note["id"], {"Authorization": f"Bearer {assignee_token}"}))[1] == b"see log"
    other_upload = await upload(any_server, bearer(agent_info), b"mine", "text/plain")
    error = await d.client.error(
        "send_ticket_message",
        {"ticket_id": ticket["id"], "body": "x", "attachments": [other_upload[1]["id"]]},
        "not_found",
    )
    assert error["details"] == {"attachment_id": other_upload[1]["id"]}
    view = await d.client.ok("get_ticket", {"ticket_id": ticket["id"]})
    assert len(view["messages"]) == 1


async def test_one_upload_named_twice_at_once_goes_to_one_and_the_other_is_refused(any_server: RunningServer) -> None:
    d = await desk(any_server)
    headers = bearer({"access_token": d.tokens["client"]})
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    second_tab = await any_server.client(token=d.tokens["client"])

    def reply(body: str, attachment_id: str) -> dict[str, Any]:
        return {"ticket_id": ticket["id"], "body": body, "attachments": [attachment_id]}

    for n in range(3):
        _, up = await upload(any_server, headers, b"log", "text/plain", "log.txt")
        acks = await asyncio.gather(
            *(c.call("send_ticket_message", reply(f"r{n}", up["id"])) for c in (d.client, second_tab))
        )
        assert sorted(a["ok"] for a in acks) == [False, True], acks
        refused = next(a["error"] for a in acks if not a["ok"])
        assert (refused["code"], refused["details"]) == ("conflict", {"attachment_id": up["id"]})

    _, up = await upload(any_server, headers, b"log", "text/plain", "log.txt")
    before = await d.admin.ok("list_workspace_members", {"workspace_id": d.workspace["id"]})
    new_ticket, message = await asyncio.gather(
        d.client.call("submit_ticket", ticket_payload(d.tech, "race", attachments=[up["id"]])),
        second_tab.call("send_ticket_message", reply("r3", up["id"])),
    )
    assert sorted([new_ticket["ok"], message["ok"]]) == [False, True], (new_ticket, message)
    titles = [t["title"] for t in (await d.client.ok("list_tickets", {}))["tickets"]]
    assert titles == (["race", "Refund"] if new_ticket["ok"] else ["Refund"])
    if not new_ticket["ok"]:  # refused as a whole: no ticket, and no agent counted for it
        assert await d.admin.ok("list_workspace_members", {"workspace_id": d.workspace["id"]}) == before
    view = await d.client.ok("get_ticket", {"ticket_id": ticket["id"]})
    expected = ["r0", "r1", "r2"] + ([] if new_ticket["ok"] else ["r3"])
    assert [m["body"] for m in view["messages"]] == expected
    assert len({m["attachments"][0] for m in view["messages"]}) == len(expected)
    await asyncio.sleep(0.2)
    assert [m["message"]["body"] for m in d.billing_agent.inbox.of("ticket_message")] == expected


async def stored_files(server: RunningServer) -> list[str]:
    """The ids whose bytes the backend holds (files in DATA_DIR/attachments, or GridFS), with records checked."""
    if server.settings.storage_kind == "sqlite":
        return sorted(p.name for p in (server.settings.data_dir / "attachments").iterdir())
    db = server.deps.db.db
    files = sorted([doc["_id"] async for doc in db["attachments.files"].find({})])
    chunks = {doc["files_id"] async for doc in db["attachments.chunks"].find({}, {"files_id": 1})}
    assert chunks <= set(files)  # no orphan chunks of an aborted upload
    return files


async def stored_records(server: RunningServer) -> int:
    """How many attachment records the backend holds."""
    if server.settings.storage_kind == "sqlite":
        row = await server.deps.db.fetch_one("SELECT COUNT(*) AS n FROM attachments")
        return int(row["n"])
    return int(await server.deps.db.db["attachment_records"].count_documents({}))


async def test_limits_give_413_and_415_and_leave_nothing(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, attachment_max_bytes=1000, attachment_content_types="text/plain, image/png")
    _, info = await signed_in(server, Role.CLIENT)
    status, body = await upload(server, bearer(info), b"x" * 1001, "text/plain")
    assert status == 413 and body["ok"] is False and body["error"]["code"] == "payload_too_large"
    status, body = await upload(server, bearer(info), b"x" * 50_000, "text/plain")
    assert status == 413 and body["error"]["details"] == {"limit": 1000}
    status, body = await upload(server, bearer(info), b"<html>", "text/html", "x.html")
    assert status == 415 and body["error"]["code"] == "invalid_payload"
    assert body["error"]["details"] == {"allowed": ["text/plain", "image/png"]}
    status, body = await upload(server, bearer(info), b"x" * 1000, "text/plain; charset=utf-8")
    assert status == 201 and body["size"] == 1000 and body["content_type"] == "text/plain"
    assert await stored_files(server) == [body["id"]] and await stored_records(server) == 1
    status, data, _ = await download(server, body["id"], bearer(info))
    assert status == 200 and data == b"x" * 1000


async def test_bad_requests(any_server: RunningServer) -> None:
    server = any_server
    _, info = await signed_in(server, Role.CLIENT)
    assert (await upload(server, bearer(info), b"", "text/plain"))[0] == 400
    status, body = await upload(server, bearer(info), b"abc", "text/plain", field="other")
    assert status == 400 and "field 'file'" in body["error"]["message"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/attachments", json={"a": 1}, headers=bearer(info)) as resp:
            assert resp.status == 400
    assert (await upload(server, {}, b"abc", "text/plain"))[0] == 401
    assert (await upload(server, {"Authorization": "Basic abc"}, b"abc", "text/plain"))[0] == 401
    assert await stored_files(server) == [] and await stored_records(server) == 0


async def test_workspace_key_uploads_travel_with_dowell_messages(any_server: RunningServer) -> None:
    admin = await admin_of(any_server)
    workspace, key = await new_workspace(admin)
    other, other_key = await new_workspace(admin, "Other")
    by_key = {"X-Workspace-Id": workspace["id"], "X-Api-Key": key}
    status, body = await upload(any_server, by_key, b"receipt", "application/pdf", "r.pdf")
    assert status == 201
    wrong = await upload(any_server, {"X-Workspace-Id": workspace["id"], "X-Api-Key": other_key}, b"x", "text/plain")
    assert wrong[0] == 401 and wrong[1]["error"]["message"] == "Invalid API key"

    c = await any_server.client()
    await c.ok("create_line_manager", keyed(workspace, key, user_id="m", positions_in_a_line=1, average_serving_time=1))
    ticket = await c.ok("create_ticket", keyed(workspace, key, user_id="u", product="p"))
    fields = {"ticket_id": ticket["_id"], "product": "p", "message_data": "see file", "user_id": "u"}
    message = await c.ok("ticket_message_event", keyed(workspace, key, **fields, attachments=[body["id"], body["id"]]))
    assert message["attachments"] == [body["id"]]
    history = await c.ok("get_ticket_messages", keyed(workspace, key, ticket_id=ticket["_id"]))
    assert history == [message] and "attachments" in history[0]
    error = await c.error("ticket_message_event", keyed(workspace, key, **fields, attachments=["0" * 24]), "not_found")
    assert c.inbox.of("ticket_message_response")[-1]["data"] == error["message"]

    assert (await download(any_server, body["id"], by_key))[1] == b"receipt"
    assert (await download(any_server, body["id"], {"X-Workspace-Id": other["id"], "X-Api-Key": other_key}))[0] == 404
    _, agent_info = await signed_in(any_server, Role.AGENT)
    assert (await download(any_server, body["id"], bearer(agent_info)))[0] == 404
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": agent_info["user"]["id"]})
    assert (await download(any_server, body["id"], bearer(agent_info)))[1] == b"receipt"


async def test_one_upload_in_two_dowell_messages_at_once_goes_to_one_only(any_server: RunningServer) -> None:
    admin = await admin_of(any_server)
    workspace, key = await new_workspace(admin)
    by_key = {"X-Workspace-Id": workspace["id"], "X-Api-Key": key}
    first, second, watcher = [await any_server.client() for _ in range(3)]
    await first.ok(
        "create_line_manager", keyed(workspace, key, user_id="m", positions_in_a_line=1, average_serving_time=1)
    )
    ticket = await first.ok("create_ticket", keyed(workspace, key, user_id="u", product="p"))
    await watcher.ok("get_ticket_messages", keyed(workspace, key, ticket_id=ticket["_id"]))
    said = {"ticket_id": ticket["_id"], "product": "p", "user_id": "u"}

    stored = []
    for n in range(3):
        _, up = await upload(any_server, by_key, b"receipt", "application/pdf", "r.pdf")
        senders = (first, second)
        before = {c: len(c.inbox.of("ticket_message_response")) for c in senders}
        acks = await asyncio.gather(
            *(
                c.call(
                    "ticket_message_event",
                    keyed(workspace, key, **said, message_data=f"m{n}{i}", attachments=[up["id"]]),
                )
                for i, c in enumerate(senders)
            )
        )
        assert sorted(a["ok"] for a in acks) == [False, True], acks
        loser = next(c for c, a in zip(senders, acks, strict=True) if not a["ok"])
        refused = next(a["error"] for a in acks if not a["ok"])
        assert (refused["code"], refused["details"]) == ("conflict", {"attachment_id": up["id"]})
        # the loser may also hear the winner's push (it joined the ticket's room in an earlier round), in any order
        answered = loser.inbox.of("ticket_message_response")[before[loser] :]
        assert [r for r in answered if r["status"] == "failure"] == [
            {"data": "this attachment is already part of a ticket", "status": "failure", "operation": "send_message"}
        ], answered
        stored.append(next(a["data"] for a in acks if a["ok"]))
    history = await first.ok("get_ticket_messages", keyed(workspace, key, ticket_id=ticket["_id"]))
    assert history == stored and all(len(m["attachments"]) == 1 for m in history)
    await asyncio.sleep(0.2)
    pushed = [m["data"] for m in watcher.inbox.of("ticket_message_response") if m["operation"] == "send_message"]
    assert pushed == stored  # the refused messages were never pushed
