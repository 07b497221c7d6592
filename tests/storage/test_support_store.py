"""Support store contract, on both backends."""

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
from models.support import LineManager, SupportMessage, Topic
from storage.attachments import make_attachment_store
from storage.database import Database, new_id
from storage.support import SupportStore, make_support_store

WS = "ws1"


@pytest.fixture
async def store(db: Database) -> SupportStore:
    support = make_support_store(db)
    await support.init()
    await support.init()
    return support


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


async def counts(store: SupportStore) -> dict[str, int]:
    return {m.user_id: m.ticket_count for m in await store.list_line_managers(WS)}


async def test_topics_and_managers_are_unique_per_workspace(store: SupportStore) -> None:
    now = to_millis(utc_now())
    await store.create_topic(Topic(id=new_id(), name="A", workspace_id=WS, created_at=now))
    await store.create_topic(Topic(id=new_id(), name="A", workspace_id="ws2", created_at=now))
    with pytest.raises(Conflict, match="Topic A already exists"):
        await store.create_topic(Topic(id=new_id(), name="A", workspace_id=WS, created_at=now))
    assert [t.name for t in await store.list_topics(WS)] == ["A"]
    await store.create_line_manager(manager("m", 1))
    with pytest.raises(Conflict, match="User m already exists"):
        await store.create_line_manager(manager("m", 2))
    assert (await store.get_line_manager(WS, "m")).positions_in_a_line == 1  # type: ignore[union-attr]
    assert await store.get_line_manager(WS, "nobody") is None


async def test_open_close_reopen_keep_counts_in_step(store: SupportStore, db: Database) -> None:
    now = to_millis(utc_now())
    assert await store.open_ticket(new_id(), WS, "u", "p", now) is None
    await store.create_line_manager(manager("a", 2))
    await store.create_line_manager(manager("b", 1))
    tickets = [await store.open_ticket(new_id(), WS, f"u{i}", "p", now + timedelta(seconds=i)) for i in range(4)]
    assert [t.line_manager for t in tickets if t] == ["b", "a", "b", "a"]
    assert await counts(store) == {"a": 2, "b": 2}
    first = tickets[0]
    assert first is not None and await store.tickets_ahead(tickets[2]) == 1  # type: ignore[arg-type]

    results = await asyncio.gather(*(store.close_ticket(WS, first.id, now) for _ in range(3)))
    assert sum(r is not None for r in results) == 1
    assert (await counts(store))["b"] == 1 and (await store.get_ticket(WS, first.id)).is_closed  # type: ignore[union-attr]
    assert await store.tickets_ahead(tickets[2]) == 0  # type: ignore[arg-type]
    assert await store.close_ticket("other", tickets[1].id, now) is None  # type: ignore[union-attr]
    reopened = await asyncio.gather(*(store.reopen_ticket(WS, first.id, now) for _ in range(3)))
    assert sum(r is not None for r in reopened) == 1 and (await counts(store))["b"] == 2

    if db.kind == "sqlite":
        await db.execute("UPDATE workspace_members SET ticket_count = 0")  # type: ignore[attr-defined]
    else:
        await db.db["workspace_members"].update_many({}, {"$set": {"ticket_count": 0}})  # type: ignore[attr-defined]
    await store.close_ticket(WS, first.id, now)
    assert (await counts(store))["b"] == 0
    assert [t.id for t in await store.list_tickets(WS, "p")] == [t.id for t in tickets if t]


async def open_per_manager(store: SupportStore) -> dict[str, int]:
    """Each line manager's open tickets, counted from the tickets themselves."""
    opened = Counter(t.line_manager for t in await store.list_tickets(WS, "p") if not t.is_closed)
    return {m.user_id: opened[m.user_id] for m in await store.list_line_managers(WS)}


async def test_a_failed_ticket_insert_leaves_no_manager_counted(store: SupportStore) -> None:
    now = to_millis(utc_now())
    await store.create_line_manager(manager("a", 1))
    await store.create_line_manager(manager("b", 2))
    first = await store.open_ticket(new_id(), WS, "u", "p", now)
    assert first is not None and await counts(store) == {"a": 1, "b": 0}
    with pytest.raises(Exception):  # noqa: B017 - the backend's own duplicate-key error
        await store.open_ticket(first.id, WS, "again", "p", now)  # the same id: the insert fails after the count
    assert await counts(store) == {"a": 1, "b": 0} == await open_per_manager(store)
    second = await store.open_ticket(new_id(), WS, "v", "p", now)
    assert second is not None and second.line_manager == "b"
    assert await counts(store) == await open_per_manager(store) == {"a": 1, "b": 1}


async def test_cancelled_opens_and_closes_keep_counts_equal_to_open_tickets(store: SupportStore) -> None:
    """Requests abandoned at any point (time-out, disconnect) never leave a count without its ticket."""
    now = to_millis(utc_now())
    for i in range(3):
        await store.create_line_manager(manager(f"m{i}", i + 1))
    rng = random.Random(4)

    async def abandoned(call: object) -> None:
        task = asyncio.ensure_future(call)  # type: ignore[arg-type]
        await asyncio.sleep(rng.uniform(0, 0.03))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    for _ in range(12):
        await abandoned(store.open_ticket(new_id(), WS, "u", "p", now))
    tickets = await store.list_tickets(WS, "p")
    for ticket in tickets[::2]:
        await abandoned(store.close_ticket(WS, ticket.id, now))
    await asyncio.sleep(0.2)  # let writes the server had already received finish
    assert await counts(store) == await open_per_manager(store)


async def test_messages_unread_and_read(store: SupportStore) -> None:
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
        await store.add_message(m)
    assert [m.message_data for m in await store.list_messages("t1")] == ["one", "two", "three"]
    assert [m.message_data for m in await store.list_messages("t1", 2)] == ["two", "three"]
    assert await store.get_message("t1", sent[0].id) == sent[0]
    assert await store.get_message("t2", sent[0].id) is None
    assert await store.count_unread("t1", "cust") == 2 and await store.count_unread("t1", "lm") == 1
    assert await store.mark_read("t1", "cust") == 2
    assert await store.mark_read("t1", "cust") == 0
    assert await store.count_unread("t1", "cust") == 0 and await store.count_unread("t1", "lm") == 1


async def test_a_message_links_its_uploads_in_the_same_step_or_is_not_stored(
    store: SupportStore,
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
    both = await asyncio.gather(*(store.add_message(message(shared)) for _ in range(2)), return_exceptions=True)
    assert sorted(type(r).__name__ for r in both) == ["Conflict", "NoneType"], both
    assert [m.attachments for m in await store.list_messages("t1")] == [[shared]]
    linked = await uploads.get(shared)
    assert (linked.ticket_kind, linked.ticket_id) == ("support", "t1")

    fresh = await upload()
    for refused in (message(fresh, shared), message(await upload("ws2")), message(await upload(None, "user"))):
        with pytest.raises(Conflict):
            await store.add_message(refused)
    assert (await uploads.get(fresh)).ticket_id is None  # rolled back with the refused message
    assert len(await store.list_messages("t1")) == 1


async def test_one_store_behind_both_doors(db: Database, store: SupportStore) -> None:
    """A Dowell or widget ticket is a ticket of the helpdesk store too, with one message history; the helpdesk
    store changes only the signed-in door's status and assignee, and its listings of a client stay signed-in."""
    from models.tickets import TicketMessage, TicketQuery, TicketStatus
    from storage.helpdesk import make_helpdesk_store

    helpdesk = make_helpdesk_store(db)
    await helpdesk.init()
    now = to_millis(utc_now())
    await store.create_line_manager(manager("lm", 1))
    opened = await store.open_ticket("w1", WS, "visitor-1", "shop", now)
    assert opened is not None
    said = SupportMessage(
        id="m1", ticket_id="w1", message_data="hi", author="visitor-1", created_at=now, product="shop", workspace_id=WS
    )
    await store.add_message(said)
    seen = await helpdesk.get_ticket("w1")
    assert (seen.door, seen.product, seen.category_id, seen.client_id, seen.assignee_id) == (
        "widget",
        "shop",
        None,
        "visitor-1",
        "lm",
    )
    assert [t.id for t in await helpdesk.list_tickets(TicketQuery(workspace_ids=[WS]), None, 10)] == ["w1"]
    assert await helpdesk.list_tickets(TicketQuery(client_id="visitor-1"), None, 10) == []
    answer = TicketMessage(
        id="m2", ticket_id="w1", author_id="agent-1", author_role="agent", body="hello", created_at=now
    )
    await helpdesk.add_message(answer)
    assert [(m.author, m.message_data, m.product) for m in await store.list_messages("w1")] == [
        ("visitor-1", "hi", "shop"),
        ("agent-1", "hello", "shop"),
    ]
    assert [(m.author_id, m.author_role) for m in await helpdesk.list_messages("w1", 10)] == [
        ("visitor-1", "visitor"),
        ("agent-1", "agent"),
    ]
    assert await helpdesk.set_status("w1", TicketStatus.OPEN, TicketStatus.CLOSED, now) is None
    assert await store.close_ticket(WS, "w1", now) is not None
    assert (await helpdesk.get_ticket("w1")).status == TicketStatus.CLOSED and await counts(store) == {"lm": 0}
