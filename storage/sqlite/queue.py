"""Queue rows on SQLite shared by the queue stores: column lists, row converters, the live-office check."""

from __future__ import annotations

from typing import Any

import aiosqlite
import orjson

from models.errors import NotFound
from models.queue import AuditEntry, Office, QueueNumber, Service, Window
from storage.sqlite.convert import from_iso
from storage.sqlite.db import tx_fetch_one

OFFICE_COLUMNS = "ref, name, address, manager_id, counter, issued, epoch, created_at, deleted_at"
SERVICE_COLUMNS = "id, ref, epoch, number, window_number, agent_id, called_at, ended_at, outcome, recalls"
NUMBER_COLUMNS = "id, ref, epoch, number, user_id, status, taken_at, called_at, window_number, soon_notified"


def service_of(row: Any) -> Service:
    """Return the service stored in ``row``."""
    return Service(
        id=row["id"],
        ref_office=row["ref"],
        epoch=row["epoch"],
        number=row["number"],
        number_window=row["window_number"],
        agent_id=row["agent_id"],
        called_at=from_iso(row["called_at"]),
        ended_at=from_iso(row["ended_at"]),
        outcome=row["outcome"],
        recalls=row["recalls"],
    )


def number_of(row: Any) -> QueueNumber:
    """Return the virtual number stored in ``row``."""
    return QueueNumber(
        id=row["id"],
        ref_office=row["ref"],
        epoch=row["epoch"],
        number=row["number"],
        user_id=row["user_id"],
        status=row["status"],
        taken_at=from_iso(row["taken_at"]),
        called_at=from_iso(row["called_at"]),
        number_window=row["window_number"],
        soon_notified=bool(row["soon_notified"]),
    )


def window_of(row: Any) -> Window:
    """Return the window stored in ``row``."""
    return Window(
        number_window=row["number"],
        agent_id=row["agent_id"],
        served=row["served"],
        no_shows=row["no_shows"],
        current_number=row["current_number"],
    )


def office_of(row: Any, windows: list[Window]) -> Office:
    """Return the office stored in ``row``, with its ``windows``."""
    return Office(
        ref_office=row["ref"],
        name=row["name"],
        address=row["address"],
        manager_id=row["manager_id"],
        counter=row["counter"],
        issued=row["issued"],
        epoch=row["epoch"],
        windows=windows,
        created_at=from_iso(row["created_at"]),
        deleted_at=from_iso(row["deleted_at"]),
    )


def audit_of(row: Any) -> AuditEntry:
    """Return the audit entry stored in ``row``."""
    return AuditEntry(
        id=row["id"],
        ref_office=row["ref"],
        action=row["action"],
        by=row["by_user"],
        at=from_iso(row["at"]),
        previous=orjson.loads(row["previous"]),
        details=orjson.loads(row["details"]),
    )


def check_live(row: Any, ref: str) -> None:
    """Raise ``NotFound`` unless the office exists and is not deleted."""
    if row is None:
        raise NotFound(f"no office with reference {ref}", {"ref_office": ref})
    if row["deleted_at"]:
        raise NotFound(f"office {ref} was deleted", {"ref_office": ref, "deleted": True})


async def live_office(conn: aiosqlite.Connection, ref: str) -> Any:
    """Return the live office row inside a transaction, else raise ``NotFound``."""
    row = await tx_fetch_one(conn, f"SELECT {OFFICE_COLUMNS} FROM queue_offices WHERE ref = ?", (ref,))
    check_live(row, ref)
    return row
