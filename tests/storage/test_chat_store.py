"""Public chat store contract, run against both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.chat import ChatMessage
from storage.chat import make_chat_store
from storage.database import Database, new_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def message(room: str, text: str, at: datetime) -> ChatMessage:
    return ChatMessage(
        id=new_id(),
        room=room,
        type="t",
        message_data=text,
        side="s",
        author="a",
        message_type="m",
        sid="x",
        created_at=at,
    )


async def test_history_is_newest_n_oldest_first_per_room(db: Database) -> None:
    store = make_chat_store(db)
    await store.init()
    for i in range(6):
        await store.add_message(message("a", f"a{i}", NOW + timedelta(seconds=i)))
        await store.add_message(message("b", f"b{i}", NOW + timedelta(seconds=i)))
    assert [m.message_data for m in await store.history("a", 4)] == ["a2", "a3", "a4", "a5"]
    assert [m.message_data for m in await store.history("b", 100)] == [f"b{i}" for i in range(6)]
    assert await store.history("empty", 10) == []


async def test_same_instant_keeps_insertion_order(db: Database) -> None:
    store = make_chat_store(db)
    await store.init()
    for i in range(5):
        await store.add_message(message("same", f"m{i}", NOW))
    assert [m.message_data for m in await store.history("same", 10)] == [f"m{i}" for i in range(5)]
