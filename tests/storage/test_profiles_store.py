"""Profile store contract on both backends: one atomic write of name, profile and picture links; the backfill."""

from __future__ import annotations

import asyncio

import pytest

from models.accounts import NewUser
from models.attachments import AttachmentRecord
from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict, NotFound
from models.profiles import ProfileChanges
from models.roles import Role
from storage.accounts import make_account_store
from storage.attachments import make_attachment_store
from storage.database import Database, new_id
from storage.profiles import make_profile_store


async def stores(db: Database, settings_for, backend: str):  # type: ignore[no-untyped-def]
    accounts, files, profiles = (
        make_account_store(db),
        make_attachment_store(db, settings_for(backend)),
        make_profile_store(db),
    )
    for store in (accounts, files, profiles):
        await store.init()
    return accounts, files, profiles


async def user(accounts, name: str = "Ana") -> str:  # type: ignore[no-untyped-def]
    new = NewUser(email=f"{new_id()}@example.com", name=name, role=Role.AGENT, password_hash="x")
    return str((await accounts.create_user(new, utc_now())).id)


async def upload(files, uploader: str) -> str:  # type: ignore[no-untyped-def]
    record = AttachmentRecord(
        id=new_id(),
        name="me.png",
        size=10,
        content_type="image/png",
        uploader_id=uploader,
        created_at=to_millis(utc_now()),
    )
    await files.add(record)
    return record.id


async def test_a_save_writes_name_profile_and_picture_together_or_nothing(
    db: Database, settings_for, backend: str
) -> None:  # type: ignore[no-untyped-def]
    accounts, files, profiles = await stores(db, settings_for, backend)
    ana, bob = await user(accounts), await user(accounts, "Bob")
    now = to_millis(utc_now())
    assert await profiles.get(ana) is None
    with pytest.raises(NotFound):
        await profiles.save("f" * 24, ProfileChanges(city="x"), now)

    photo = await upload(files, ana)
    saved = await profiles.save(ana, ProfileChanges(name="Ana S", city="Lisbon", picture_attachment_id=photo), now)
    assert (saved.city, saved.region, saved.picture_attachment_id, saved.updated_at) == ("Lisbon", "", photo, now)
    assert await profiles.get(ana) == saved
    assert (await accounts.get_user(ana)).name == "Ana S"
    linked = await files.get(photo)
    assert (linked.ticket_kind, linked.ticket_id) == ("profile", ana)

    bobs = await upload(files, bob)
    with pytest.raises(Conflict):  # another user's upload: nothing of this save is kept
        await profiles.save(ana, ProfileChanges(name="Mallory", city="Nowhere", picture_attachment_id=bobs), now)
    assert await profiles.get(ana) == saved and (await accounts.get_user(ana)).name == "Ana S"
    assert (await files.get(bobs)).ticket_id is None

    cleared = await profiles.save(ana, ProfileChanges(remove_picture=True), now)
    assert cleared.picture_attachment_id is None and cleared.city == "Lisbon"
    assert (await files.get(photo)).ticket_id is None


async def test_racing_pictures_leave_exactly_the_winner_linked(db: Database, settings_for, backend: str) -> None:  # type: ignore[no-untyped-def]
    accounts, files, profiles = await stores(db, settings_for, backend)
    ana = await user(accounts)
    photos = [await upload(files, ana) for _ in range(6)]
    now = to_millis(utc_now())
    await asyncio.gather(*(profiles.save(ana, ProfileChanges(picture_attachment_id=p), now) for p in photos))
    winner = (await profiles.get(ana)).picture_attachment_id  # type: ignore[union-attr]
    linked = [p for p in photos if (await files.get(p)).ticket_id is not None]
    assert linked == [winner]


async def test_the_backfill_gives_existing_accounts_an_empty_profile_once(
    db: Database, settings_for, backend: str
) -> None:  # type: ignore[no-untyped-def]
    accounts, _, profiles = await stores(db, settings_for, backend)
    ana, bob = await user(accounts), await user(accounts, "Bob")
    await profiles.save(ana, ProfileChanges(city="Lisbon"), to_millis(utc_now()))
    assert await profiles.backfill() == 1
    assert await profiles.backfill() == 0
    empty = await profiles.get(bob)
    assert empty is not None and (empty.city, empty.picture_attachment_id) == ("", None)
    assert (await profiles.get(ana)).city == "Lisbon"  # type: ignore[union-attr]
