"""Which broadcasts a process must persist for connection-state recovery: while a session kept within the window
had one of their rooms (or, with another instance possibly holding sessions, always). Real SQLite store."""

from __future__ import annotations

from typing import Any

from models.session_recovery import SavedSession
from services.session_recovery import SessionRecoveryService
from storage import open_database
from storage.session_recovery import make_session_recovery_store
from tests.helpers import ManualClock

WINDOW = 60


async def test_a_kept_session_keeps_its_rooms_broadcasts_replayable_for_the_window_only(settings_for: Any) -> None:
    db = await open_database(settings_for("sqlite"))
    try:
        store = make_session_recovery_store(db)
        await store.init()
        clock = ManualClock()
        alone = SessionRecoveryService(store, clock, WINDOW, knows_every_session=True)
        assert not alone.may_replay(["chat:a"])
        assert not alone.may_replay([])  # to everyone: nobody kept, nobody to replay it to

        await alone.keep(SavedSession("pid-1", "sid-1", ["chat:a"]))
        assert alone.may_replay(["chat:a"])
        assert alone.may_replay(["chat:b", "chat:a"])
        assert alone.may_replay(["sid-1"])  # a push to the dropped socket itself
        assert alone.may_replay([])
        assert not alone.may_replay(["chat:b"])

        restarted = SessionRecoveryService(store, clock, WINDOW, knows_every_session=True)
        await restarted.load_kept()  # what was kept before this process started
        assert restarted.may_replay(["chat:a"])
        assert restarted.may_replay(["sid-1"])
        assert not restarted.may_replay(["chat:b"])

        clock.advance(seconds=WINDOW + 1)
        assert not alone.may_replay(["chat:a"])
        assert not alone.may_replay([])
        assert not restarted.may_replay(["sid-1"])

        one_of_many = SessionRecoveryService(store, clock, WINDOW)  # another instance may keep sessions
        assert one_of_many.may_replay(["chat:b"])
    finally:
        await db.close()
