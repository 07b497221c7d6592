"""Ticket store contract, on both backends: a signed-in answer in a Dowell or widget ticket links the author's
uploads to it (kind ``support``, the ticket's workspace) in the same transaction as the message, or nothing."""

from __future__ import annotations

import asyncio

import pytest

from models.attachments import AttachmentRecord
from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict
from models.support import LineManager, line_ticket
from models.tickets import TicketMessage, signed_in_record
from storage.attachments import make_attachment_store
from storage.database import Database, new_id
from storage.line_managers import make_line_manager_store
from storage.tickets import make_ticket_store

WS = "ws1"


async def test_an_answer_links_the_agents_uploads_into_the_tickets_workspace_or_is_not_stored(
    db: Database,
    settings_for,
    backend: str,  # type: ignore[no-untyped-def]
) -> None:
    tickets, managers = make_ticket_store(db), make_line_manager_store(db)
    uploads = make_attachment_store(db, settings_for(backend))
    for store in (tickets, managers, uploads):
        await store.init()
    now = to_millis(utc_now())
    line = {"user_id": "lm", "positions_in_a_line": 1, "average_serving_time": 1.0, "ticket_count": 0}
    await managers.create(LineManager(id=new_id(), workspace_id=WS, created_at=now, **line))
    assert await tickets.open_ticket(line_ticket("w1", WS, "visitor-1", "shop", now)) is not None

    async def upload(uploader_id: str) -> str:
        record = AttachmentRecord(
            id=new_id(), name="a.txt", size=1, content_type="text/plain", created_at=now, uploader_id=uploader_id
        )
        await uploads.add(record)
        return record.id

    def answer(*attachments: str) -> TicketMessage:
        return TicketMessage(
            id=new_id(),
            ticket_id="w1",
            author_id="agent-1",
            author_role="agent",
            body="see file",
            attachments=list(attachments),
            created_at=now,
        )

    shared = await upload("agent-1")
    both = await asyncio.gather(
        *(tickets.add_message(signed_in_record(answer(shared))) for _ in range(2)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in both) == ["Conflict", "NoneType"], both
    linked = await uploads.get(shared)
    assert (linked.ticket_kind, linked.ticket_id, linked.workspace_id) == ("support", "w1", WS)
    assert [m.attachments for m in await tickets.list_messages("w1")] == [[shared]]

    fresh, theirs = await upload("agent-1"), await upload("agent-2")
    with pytest.raises(Conflict):
        await tickets.add_message(signed_in_record(answer(fresh, theirs)))
    kept = await uploads.get(fresh)
    assert (kept.ticket_id, kept.workspace_id) == (None, None)  # rolled back with the refused message
    assert len(await tickets.list_messages("w1")) == 1
