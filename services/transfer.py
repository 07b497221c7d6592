"""Move one workspace between databases (and backends) as JSON lines, through the storage interfaces only.

Each line is ``{"kind": K, "data": <the model, as JSON>}``; the first is ``{"kind": "header", "format": 1, ...}``.
Lines come in the order ``import_lines`` needs them (users before members, uploads before the messages that
link them...). Attachment bytes travel inside their line, base64-encoded (``"bytes"``), so one file holds it all.
Reading and writing through the stores (never tables or collections) keeps the format the models' own JSON,
whatever a backend's layout becomes.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.accounts import UserRecord
from models.attachments import AttachmentRecord
from models.errors import Conflict, InvalidPayload, NotFound
from models.helpdesk import CATEGORY_KIND, TOPIC_KIND, Category
from models.helpdesk_stats import TicketResolution
from models.profiles import ProfileChanges, ProfileRecord
from models.support import (
    LineManager,
    SupportMessage,
    SupportTicket,
    Topic,
    document_of,
    dowell_message,
    dowell_record,
    dowell_ticket,
)
from models.tickets import (
    SIGNED_IN_DOOR,
    ReadMarker,
    Ticket,
    TicketMessage,
    TicketQuery,
    TicketStatus,
    signed_in_message,
    signed_in_record,
)
from models.widget import VisitorRecord
from models.workspaces import Member, WorkspaceRecord
from storage.accounts import AccountStore
from storage.attachments import AttachmentStore
from storage.categories import CategoryStore, topic_category, topic_of
from storage.helpdesk_stats import HelpdeskStatsStore
from storage.line_managers import LineManagerStore
from storage.profiles import ProfileStore
from storage.tickets import TicketStore
from storage.visitors import VisitorStore
from storage.workspaces import WorkspaceStore

FORMAT = 1
PAGE = 500
ALL = 1_000_000  # "every message of the ticket" for the stores' newest-N listings


@dataclass
class TransferStores:
    """The stores a workspace lives in."""

    accounts: AccountStore
    workspaces: WorkspaceStore
    categories: CategoryStore
    line_managers: LineManagerStore
    tickets: TicketStore
    visitors: VisitorStore
    attachments: AttachmentStore
    profiles: ProfileStore
    stats: HelpdeskStatsStore


def _line(kind: str, model: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "data": model.model_dump(mode="json", by_alias=True), **extra}


async def export_lines(stores: TransferStores, workspace_id: str) -> AsyncIterator[dict[str, Any]]:
    """Yield the workspace ``workspace_id`` as export lines; ``NotFound`` if it does not exist."""
    s = stores
    workspace = await s.workspaces.find(workspace_id)
    if workspace is None:
        raise NotFound("no such workspace", {"workspace_id": workspace_id})
    members = await s.workspaces.list_members(workspace_id)
    categories = [c for c in await s.categories.list_by_name(workspace_id) if c.kind == CATEGORY_KIND]  # topics: below
    tickets = await _all_helpdesk_tickets(s.tickets, workspace_id)
    messages = {t.id: [signed_in_message(m) for m in await s.tickets.list_messages(t.id, ALL)] for t in tickets}
    reads = {t.id: await s.tickets.list_reads(t.id) for t in tickets}
    support_tickets = [dowell_ticket(t) for t in await s.tickets.list_line_tickets(workspace_id)]
    support_messages = {
        t.id: [dowell_message(m) for m in await s.tickets.list_messages(t.id, ALL)] for t in support_tickets
    }

    user_ids = [m.user_id for m in members] + [t.client_id for t in tickets]
    user_ids += [m.author_id for ms in messages.values() for m in ms]
    user_ids += [r.user_id for rs in reads.values() for r in rs]
    user_ids += [manager.user_id for manager in await s.line_managers.list_in_line(workspace_id)]
    attachment_ids = [a for t in tickets for a in t.attachments]
    attachment_ids += [a for ms in messages.values() for m in ms for a in m.attachments]
    attachment_ids += [a for ms in support_messages.values() for m in ms for a in m.attachments]
    users = [user for user_id in dict.fromkeys(user_ids) if (user := await _user_or_none(s.accounts, user_id))]
    profiles = [p for u in users if (p := await s.profiles.get(u.id)) and p.updated_at is not None]
    attachment_ids += [p.picture_attachment_id for p in profiles if p.picture_attachment_id]

    yield {"kind": "header", "format": FORMAT, "workspace_id": workspace_id}
    for user in users:
        yield _line("user", user)
    yield _line("workspace", workspace)
    for member in members:
        yield _line("member", member)
    for category in categories:
        yield _line("category", category)
    for visitor in await s.visitors.list(workspace_id):
        yield _line("visitor", visitor)
    for attachment_id in dict.fromkeys(attachment_ids):
        record = await s.attachments.get(attachment_id)
        content = b"".join([chunk async for chunk in s.attachments.read(attachment_id)])
        yield _line("attachment", record, bytes=base64.b64encode(content).decode("ascii"))
    for profile in profiles:  # after the attachments: a picture is linked again as it is imported
        yield _line("profile", profile)
    for topic in await s.categories.list_kind(workspace_id, TOPIC_KIND):
        yield _line("topic", topic_of(topic))
    for manager in await s.line_managers.list_in_line(workspace_id):
        yield _line("line_manager", manager)
    for support_ticket in support_tickets:
        yield _line("support_ticket", support_ticket)
        for support_message in support_messages[support_ticket.id]:
            yield _line("support_message", support_message)
    for ticket in reversed(tickets):  # oldest first
        yield _line("ticket", ticket)
        for message in messages[ticket.id]:
            yield _line("ticket_message", message)
        for marker in reads[ticket.id]:
            yield _line("read_marker", marker)
        yield _line("ticket_status", ticket)  # its final status and updated_at, once its messages are in
    for resolution in await s.stats.list_done(workspace_id):  # last: every door's tickets are in
        yield _line("ticket_resolution", resolution)


async def _user_or_none(accounts: AccountStore, user_id: str) -> UserRecord | None:
    """Return the account, or None (a Dowell line manager's user id may name no Deskline account)."""
    try:
        return await accounts.get_user(user_id)
    except NotFound:
        return None


async def _all_helpdesk_tickets(store: TicketStore, workspace_id: str) -> list[Ticket]:
    """Return every signed-in ticket of the workspace, newest first, page by page.

    (The one ticket store lists widget and Dowell tickets too; those are exported as support tickets.)
    """
    query, found = TicketQuery(workspace_ids=[workspace_id]), []
    after: tuple[datetime, str] | None = None
    while page := await store.list_tickets(query, after, PAGE):
        found += [ticket for ticket in page if ticket.door == SIGNED_IN_DOOR]
        after = (page[-1].created_at, page[-1].id)
    return found


@dataclass
class ImportReport:
    """What an import stored, by kind."""

    counts: dict[str, int]
    workspace_id: str | None = None


async def import_lines(stores: TransferStores, lines: Iterable[dict[str, Any]]) -> ImportReport:
    """Store the workspace that export lines describe, in their order; ``InvalidPayload`` on a bad line."""
    s, report = stores, ImportReport(counts={})
    uploaders: dict[str, str | None] = {}
    restored: set[str] = set()  # accounts this import created (a profile is only restored for those)
    for number, line in enumerate(lines, 1):
        kind, data = line.get("kind"), line.get("data")
        if kind == "header":
            if line.get("format") != FORMAT:
                raise InvalidPayload(f"unknown export format {line.get('format')!r}", {"line": number})
            report.workspace_id = line.get("workspace_id")
            if report.workspace_id and await s.workspaces.find(report.workspace_id) is not None:
                raise Conflict("this database already has that workspace", {"workspace_id": report.workspace_id})
        elif kind == "user":
            user = UserRecord.model_validate(data)
            if await s.accounts.restore_user(user):
                restored.add(user.id)
        elif kind == "workspace":
            await s.workspaces.create(WorkspaceRecord.model_validate(data))
        elif kind == "member":
            await s.workspaces.put_member(Member.model_validate(data))  # load counted as the tickets come
        elif kind == "category":
            await s.categories.create(Category.model_validate(data))
        elif kind == "visitor":
            await s.visitors.add(VisitorRecord.model_validate(data))
        elif kind == "attachment":
            await _import_attachment(s.attachments, AttachmentRecord.model_validate(data), line["bytes"])
            uploaders[data["id"]] = data.get("uploader_id")
        elif kind == "profile":
            await _import_profile(s.profiles, ProfileRecord.model_validate(data), restored)
        elif kind == "topic":
            await s.categories.create(topic_category(Topic.model_validate(data)))
        elif kind == "line_manager":
            await s.line_managers.create(LineManager.model_validate(data))
        elif kind == "support_ticket":
            await s.tickets.restore_ticket(document_of(SupportTicket.model_validate(data)))
        elif kind == "support_message":
            message = SupportMessage.model_validate(data)
            uploader = next((uploaders.get(a) for a in message.attachments), None)
            await s.tickets.add_message(dowell_record(message), uploader)
        elif kind == "ticket":
            await _import_ticket(s.tickets, Ticket.model_validate(data))
        elif kind == "ticket_message":
            await s.tickets.add_message(signed_in_record(TicketMessage.model_validate(data)))
        elif kind == "ticket_status":
            ticket = Ticket.model_validate(data)
            interim = TicketStatus.RESOLVED if ticket.status is TicketStatus.CLOSED else ticket.status
            await s.tickets.set_status(ticket.id, interim, ticket.status, ticket.updated_at)
        elif kind == "read_marker":
            await s.tickets.set_read(ReadMarker.model_validate(data))
        elif kind == "ticket_resolution":
            done = TicketResolution.model_validate(data)
            await s.stats.record_done(done.ticket_id, done.workspace_id, done.status, done.at)
        else:
            raise InvalidPayload(f"unknown line kind {kind!r}", {"line": number})
        report.counts[str(kind)] = report.counts.get(str(kind), 0) + 1
    return report


async def _import_attachment(store: AttachmentStore, record: AttachmentRecord, encoded: str) -> None:
    """Store the bytes and the record as an unlinked upload; the ticket or message naming it links it again."""
    content = base64.b64decode(encoded)

    async def chunks() -> AsyncIterator[bytes]:
        yield content

    await store.write(record.id, record.name, chunks())
    await store.add(record.model_copy(update={"ticket_kind": None, "ticket_id": None}))


async def _import_profile(store: ProfileStore, profile: ProfileRecord, restored: set[str]) -> None:
    """Store the profile of an account this import created (its picture, an imported upload, is linked again)."""
    if profile.user_id not in restored or profile.updated_at is None:
        return  # an account that was already here keeps its own profile
    changes = ProfileChanges(
        city=profile.city, region=profile.region, picture_attachment_id=profile.picture_attachment_id
    )
    await store.save(profile.user_id, changes, profile.updated_at)


async def _import_ticket(store: TicketStore, ticket: Ticket) -> None:
    """Store a ticket still open to messages (a closed one as resolved until its messages are in)."""
    interim = TicketStatus.RESOLVED if ticket.status is TicketStatus.CLOSED else ticket.status
    await store.open_ticket(ticket.model_copy(update={"status": interim}))
