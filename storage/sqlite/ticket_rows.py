"""Ticket rows on SQLite: the unified tickets table's schema, row to model conversions and the listing filter.

Used by ``storage.sqlite.tickets`` (the one ticket store, every door), ``storage.sqlite.ticket_messages`` and
``storage.sqlite.member_loads``; ``SCHEMA`` holds the read markers table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from models.tickets import ReadMarker, Ticket, TicketQuery
from storage.sqlite.convert import from_iso, iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS hd_reads (
    ticket_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    message_at TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
)
"""

TICKET = (
    "id, workspace_id, category_id, client_id, title, body, attachments, status, assignee_id, created_at, updated_at, "
    "door, product"
)
MESSAGE = "id, ticket_id, author_id, author_role, body, attachments, created_at"
READ = "ticket_id, user_id, message_id, message_at, at"


def _load(row: Any, model: type[Any], dates: tuple[str, ...], lists: tuple[str, ...] = ()) -> Any:
    values = dict(row)
    for name in dates:
        values[name] = from_iso(values[name])
    for name in lists:
        values[name] = json.loads(values[name])
    return model.model_validate(values)


def ticket_of(row: Any) -> Ticket:
    """Return the ticket stored in ``row``."""
    return _load(row, Ticket, ("created_at", "updated_at"), ("attachments",))  # type: ignore[no-any-return]


def marker_of(row: Any) -> ReadMarker:
    """Return the read marker stored in ``row``."""
    return _load(row, ReadMarker, ("message_at", "at"))  # type: ignore[no-any-return]


def ticket_values(t: Ticket) -> tuple[Any, ...]:
    """Return the ticket's values in ``TICKET`` column order."""
    return (
        t.id,
        t.workspace_id,
        t.category_id,
        t.client_id,
        t.title,
        t.body,
        json.dumps(t.attachments),
        t.status.value,
        t.assignee_id,
        iso(t.created_at),
        iso(t.updated_at),
        t.door,
        t.product,
    )


def ticket_where(query: TicketQuery, after: tuple[datetime, str] | None) -> tuple[str, list[Any]]:
    """Return the WHERE clause (and its parameters) of a ticket listing."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    if query.client_id is not None:  # a client's own tickets: the signed-in door's (others name no account)
        add("client_id = ? AND door = 'signed_in'", query.client_id)
    if query.workspace_ids is not None:
        add(f"workspace_id IN ({', '.join('?' * len(query.workspace_ids)) or 'NULL'})", *query.workspace_ids)
    if query.agent_id is not None and not query.agent_scopes:
        add("0")  # a member of nothing sees nothing, not even the tickets still assigned to them
    elif query.agent_id is not None:
        member_of = list(query.agent_scopes)
        scopes, values = [], []
        for workspace_id, categories in query.agent_scopes.items():
            if categories:
                scopes.append(f"(workspace_id = ? AND category_id IN ({', '.join('?' * len(categories))}))")
                values += [workspace_id, *categories]
            else:
                scopes.append("workspace_id = ?")
                values.append(workspace_id)
        mine = f"(assignee_id = ? AND workspace_id IN ({', '.join('?' * len(member_of))}))"
        add(f"({mine} OR (status = 'open' AND ({' OR '.join(scopes)})))", query.agent_id, *member_of, *values)
    for column in ("status", "category_id", "assignee_id"):
        value = getattr(query, column)
        if value is not None:
            add(f"{column} = ?", str(value))
    if query.created_from is not None:
        add("created_at >= ?", iso(query.created_from))
    if query.created_to is not None:
        add("created_at < ?", iso(query.created_to))
    if after is not None:
        add("(created_at, id) < (?, ?)", iso(after[0]), after[1])
    return " AND ".join(clauses) or "1 = 1", params
