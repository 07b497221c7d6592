"""Ticket store contract at the line doors (Dowell, widget) and across doors, on both backends."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest

from models.attachments import AttachmentRecord
from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict
from models.helpdesk import TOPIC_KIND
from models.support import LineManager, SupportMessage, Topic, dowell_message, dowell_record, line_ticket
from models.tickets import TicketStatus
from storage.attachments import make_attachment_store
from storage.categories import make_category_store, topic_category
from storage.database import Database, new_id
from storage.line_managers import LineManagerStore, make_line_manager_store
from storage.tickets import TicketStore, make_ticket_store

WS = "ws1"


OPEN, CLOSED = TicketStatus.OPEN, TicketStatus.CLOSED


@pytest.fixture
async def store(db: Database) -> TicketStore:
    tickets = make_ticket_store(db)
    await tickets.init()
    await tickets.init()
    return tickets


@pytest.fixture
async def line(db: Database) -> LineManagerStore:
    managers = make_line_manager_store(db)
    await managers.init()
    await managers.init()
    return managers


def manager(user_id: str, position: int, count: int = 0) -> LineManager:
    return LineManager(
        id=new_id(),
        user_id=user_id,
        positions_in_a_line=position,
        average_serving_time=2.0,
        ticket_count=count,
        workspace_id=WS,
        created_at=to_millis(utc_now()),
    )


async def counts(line: LineManagerStore) -> dict[str, int]:
    return {m.user_id: m.ticket_count for m in await line.list_in_line(WS)}


async def test_topics_and_managers_are_unique_per_workspace(db: Database, line: LineManagerStore) -> None:
    now = to_millis(utc_now())
    topics = make_category_store(db)
    await topics.init()
    await topics.create(topic_category(Topic(id=new_id(), name="A", workspace_id=WS, created_at=now)))
    await topics.create(topic_category(Topic(id=new_id(), name="A", workspace_id="ws2", created_at=now)))
    with pytest.raises(Conflict):
        await topics.create(topic_category(Topic(id=new_id(), name="A", workspace_id=WS, created_at=now)))
    assert [t.name for t in await topics.list_kind(WS, TOPIC_KIND)] == ["A"]
    await line.create(manager("m", 1))
    with pytest.raises(Conflict, match="User m already exists"):
        await line.create(manager("m", 2))
    assert (await line.get(WS, "m")).positions_in_a_line == 1  # type: ignore[union-attr]
    assert await line.get(WS, "nobody") is None


async def test_open_close_reopen_keep_counts_in_step(store: TicketStore, line: LineManagerStore, db: Database) -> None:
    now = to_millis(utc_now())
    assert await store.open_ticket(line_ticket(new_id(), WS, "u", "p", now)) is None
    await line.create(manager("a", 2))
    await line.create(manager("b", 1))
    tickets = [
        await store.open_ticket(line_ticket(new_id(), WS, f"u{i}", "p", now + timedelta(seconds=i))) for i in range(4)
    ]
    assert [t.assignee_id for t in tickets if t] == ["b", "a", "b", "a"]
    assert await counts(line) == {"a": 2, "b": 2}
    first = tickets[0]
    assert first is not None and await store.tickets_ahead(tickets[2]) == 1  # type: ignore[arg-type]

    results = await asyncio.gather(*(store.set_status(first.id, OPEN, CLOSED, now) for _ in range(3)))
    assert sum(r is not None for r in results) == 1
    assert (await counts(line))["b"] == 1 and (await store.get_ticket(first.id)).status == CLOSED
    assert await store.tickets_ahead(tickets[2]) == 0  # type: ignore[arg-type]
    assert await store.get_line_ticket("other", tickets[1].id) is None  # type: ignore[union-attr]
    reopened = await asyncio.gather(*(store.set_status(first.id, CLOSED, OPEN, now) for _ in range(3)))
    assert sum(r is not None for r in reopened) == 1 and (await counts(line))["b"] == 2

    if db.kind == "sqlite":
        await db.execute("UPDATE workspace_members SET ticket_count = 0")  # type: ignore[attr-defined]
    else:
        await db.db["workspace_members"].update_many({}, {"$set": {"ticket_count": 0}})  # type: ignore[attr-defined]
    await store.set_status(first.id, OPEN, CLOSED, now)
    assert (await counts(line))["b"] == 0
    assert [t.id for t in await store.list_line_tickets(WS, product="p")] == [t.id for t in tickets if t]


async def open_per_manager(store: TicketStore, line: LineManagerStore) -> dict[str, int]:
    """Each line manager's open tickets, counted from the tickets themselves."""
    opened = Counter(t.assignee_id for t in await store.list_line_tickets(WS, product="p") if t.status == OPEN)
    return {m.user_id: opened[m.user_id] for m in await line.list_in_line(WS)}


async def test_a_failed_ticket_insert_leaves_no_manager_counted(store: TicketStore, line: LineManagerStore) -> None:
    now = to_millis(utc_now())
    await line.create(manager("a", 1))
    await line.create(manager("b", 2))
    first = await store.open_ticket(line_ticket(new_id(), WS, "u", "p", now))
    assert first is not None and await counts(line) == {"a": 1, "b": 0}
    with pytest.raises(Exception):  # noqa: B017 - the backend's own duplicate-key error
        await store.open_ticket(
            line_ticket(first.id, WS, "again", "p", now)
        )  # the same id: the insert fails after the count
    assert await counts(line) == {"a": 1, "b": 0} == await open_per_manager(store, line)
    second = await store.open_ticket(line_ticket(new_id(), WS, "v", "p", now))
    assert second is not None and second.assignee_id == "b"
    assert await counts(line) == await open_per_manager(store, line) == {"a": 1, "b": 1}


async def test_cancelled_opens_and_closes_keep_counts_equal_to_open_tickets(
    store: TicketStore, line: LineManagerStore
) -> None:
    """Requests abandoned at any point (time-out, disconnect) never leave a count without its ticket."""
    now = to_millis(utc_now())
    for i in range(3):
        await line.create(manager(f"m{i}", i + 1))
    rng = random.Random(4)

    async def abandoned(call: object) -> None:
        task = asyncio.ensure_future(call)  # type: ignore[arg-type]
        await asyncio.sleep(rng.uniform(0, 0.03))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    for _ in range(12):
        await abandoned(store.open_ticket(line_ticket(new_id(), WS, "u", "p", now)))
    tickets = await store.list_line_tickets(WS, product="p")
    for ticket in tickets[::2]:
        await abandoned(store.set_status(ticket.id, OPEN, CLOSED, now))
    await asyncio.sleep(0.2)  # let writes the server had already received finish
    assert await counts(line) == await open_per_manager(store, line)


async def test_messages_unread_and_read(store: TicketStore) -> None:
    now = to_millis(utc_now())

    def message(author: str, text: str, offset: int) -> SupportMessage:
        return SupportMessage(
            id=new_id(),
            ticket_id="t1",
            message_data=text,
            author=author,
            created_at=now + timedelta(seconds=offset),
            product="p",
            workspace_id=WS,
        )

    sent = [message("cust", "one", 0), message("lm", "two", 1), message("lm", "three", 2)]
    for m in sent:
        await store.add_message(dowell_record(m))
    assert [m.body for m in await store.list_messages("t1")] == ["one", "two", "three"]
    assert [m.body for m in await store.list_messages("t1", 2)] == ["two", "three"]
    assert dowell_message(await store.get_message("t1", sent[0].id)) == sent[0]  # type: ignore[arg-type]
    assert await store.get_message("t2", sent[0].id) is None
    assert await store.count_unread("t1", "cust") == 2 and await store.count_unread("t1", "lm") == 1
    assert await store.mark_read("t1", "cust") == 2
    assert await store.mark_read("t1", "cust") == 0
    assert await store.count_unread("t1", "cust") == 0 and await store.count_unread("t1", "lm") == 1


async def test_a_message_links_its_uploads_in_the_same_step_or_is_not_stored(
    store: TicketStore,
    db: Database,
    settings_for,
    backend: str,  # type: ignore[no-untyped-def]
) -> None:
    uploads = make_attachment_store(db, settings_for(backend))
    await uploads.init()
    now = to_millis(utc_now())

    async def upload(workspace_id: str | None = WS, uploader_id: str | None = None) -> str:
        record = AttachmentRecord(
            id=new_id(),
            name="r.pdf",
            size=1,
            content_type="application/pdf",
            created_at=now,
            uploader_id=uploader_id,
            workspace_id=workspace_id,
        )
        await uploads.add(record)
        return record.id

    def message(*attachments: str) -> SupportMessage:
        return SupportMessage(
            id=new_id(),
            ticket_id="t1",
            message_data="see file",
            author="cust",
            attachments=list(attachments),
            created_at=now,
            product="p",
            workspace_id=WS,
        )

    shared = await upload()
    both = await asyncio.gather(
        *(store.add_message(dowell_record(message(shared))) for _ in range(2)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in both) == ["Conflict", "NoneType"], both
    assert [m.attachments for m in await store.list_messages("t1")] == [[shared]]
    linked = await uploads.get(shared)
    assert (linked.ticket_kind, linked.ticket_id) == ("support", "t1")

    fresh = await upload()
    for refused in (message(fresh, shared), message(await upload("ws2")), message(await upload(None, "user"))):
        with pytest.raises(Conflict):
            await store.add_message(dowell_record(refused))
    assert (await uploads.get(fresh)).ticket_id is None  # rolled back with the refused message
    assert len(await store.list_messages("t1")) == 1


async def test_one_store_behind_both_doors(store: TicketStore, line: LineManagerStore) -> None:
    """A Dowell or widget ticket is one ticket document with one message history, read in either shape; its status
    change moves the line manager's ``ticket_count``, and the listings of a client stay signed-in."""
    from models.tickets import TicketMessage, TicketQuery, signed_in_record

    now = to_millis(utc_now())
    await line.create(manager("lm", 1))
    opened = await store.open_ticket(line_ticket("w1", WS, "visitor-1", "shop", now))
    assert opened is not None
    said = SupportMessage(
        id="m1", ticket_id="w1", message_data="hi", author="visitor-1", created_at=now, product="shop", workspace_id=WS
    )
    await store.add_message(dowell_record(said))
    seen = await store.get_ticket("w1")
    assert (seen.door, seen.product, seen.category_id, seen.client_id, seen.assignee_id) == (
        "widget",
        "shop",
        None,
        "visitor-1",
        "lm",
    )
    assert [t.id for t in await store.list_tickets(TicketQuery(workspace_ids=[WS]), None, 10)] == ["w1"]
    assert await store.list_tickets(TicketQuery(client_id="visitor-1"), None, 10) == []
    answer = TicketMessage(
        id="m2", ticket_id="w1", author_id="agent-1", author_role="agent", body="hello", created_at=now
    )
    await store.add_message(signed_in_record(answer))
    assert [(m.author_id, m.body, m.product) for m in await store.list_messages("w1")] == [
        ("visitor-1", "hi", "shop"),
        ("agent-1", "hello", "shop"),
    ]
    assert [(m.author_id, m.author_role) for m in await store.list_messages("w1", 10)] == [
        ("visitor-1", "visitor"),
        ("agent-1", "agent"),
    ]
    assert await store.set_status("w1", TicketStatus.OPEN, TicketStatus.CLOSED, now) is not None
    assert (await store.get_ticket("w1")).status == TicketStatus.CLOSED and await counts(line) == {"lm": 0}


async def test_line_door_reads_never_return_a_signed_in_ticket(store: TicketStore, line: LineManagerStore) -> None:
    """The Dowell and widget doors' reads see line tickets of their own workspace only; a restore never overwrites."""
    from models.tickets import Ticket

    now = to_millis(utc_now())
    await line.create(manager("lm", 1))
    opened = await store.open_ticket(line_ticket("d1", WS, "cust", "p", now))
    assert opened is not None and (opened.door, opened.assignee_id) == ("dowell", "lm")
    signed_in = Ticket(
        id="s1", workspace_id=WS, client_id="cust", title="t", body="b", created_at=now, updated_at=now, product="p"
    )
    await store.open_ticket(signed_in)
    assert await store.get_line_ticket(WS, "s1") is None and (await store.get_ticket("s1")).door == "signed_in"
    assert await store.get_line_ticket("ws2", "d1") is None
    assert await store.get_line_ticket(WS, "d1") == opened
    assert [t.id for t in await store.list_line_tickets(WS, product="p")] == ["d1"]
    assert [t.id for t in await store.list_line_tickets(WS, client_id="cust")] == ["d1"]
    assert await store.line_ticket_ids(WS) == ["d1"]
    await store.restore_ticket(opened.model_copy(update={"status": CLOSED, "assignee_id": "other"}))
    assert await store.get_ticket("d1") == opened  # an existing id is kept as it is
    assert await counts(line) == {"lm": 1}
