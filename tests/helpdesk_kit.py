"""Shared steps of the helpdesk tests: an admin, a workspace with its key, Dowell payloads."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from models.accounts import NewUser
from models.roles import Role
from tests.helpers import Client, RunningServer

_HASH: list[str] = []


async def signed_in(
    server: RunningServer, role: Role | str = Role.CLIENT, name: str | None = None
) -> tuple[Client, dict[str, Any]]:
    """Like ``tests.conftest.signed_in``, hashing the shared test password once instead of per user."""
    if not _HASH:
        _HASH.append(await server.deps.accounts.passwords.hash("correct horse battery"))
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    new = NewUser(email=email, name=name or f"{role} user", role=Role(role), password_hash=_HASH[0])
    user = await server.deps.accounts.store.create_user(new, server.clock())
    pair = await server.deps.accounts.issue(user, server.clock())
    client = await server.client(token=pair.access_token)
    return client, {"user": user.model_dump(mode="json"), "access_token": pair.access_token, "email": email}


async def admin_of(server: RunningServer) -> Client:
    """Return a client signed in as a fresh admin."""
    admin, _ = await signed_in(server, Role.ADMIN)
    return admin


async def new_workspace(admin: Client, name: str = "Acme", **settings: Any) -> tuple[dict[str, Any], str]:
    """Create a workspace through the admin event; return it and its API key."""
    data = await admin.ok("create_workspace", {"name": name, **settings})
    return data["workspace"], data["api_key"]


def keyed(workspace: dict[str, Any], api_key: str, **fields: Any) -> dict[str, Any]:
    """Return a Dowell payload for the workspace."""
    return {"workspace_id": workspace["id"], "api_key": api_key, **fields}


def sqlite_bytes(server: RunningServer) -> bytes:
    """Return every byte of the server's SQLite database (main file and WAL)."""
    path = server.settings.sqlite_path()
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def stored_text(server: RunningServer) -> str:
    """Return a dump of everything the server stored, whatever the backend."""
    if server.settings.storage_kind == "sqlite":
        return sqlite_bytes(server).decode("latin-1")
    db = server.deps.db.db
    parts = []
    for name in await db.list_collection_names():
        parts.extend([repr(doc) async for doc in db[name].find({})])
    return "\n".join(parts)


async def old_emit(client: Client, event: str, payload: Any, listen: str, operation: str) -> dict[str, Any]:
    """Emit without an ack, as an old Dowell frontend does, and return the next response of ``operation``."""
    seen = len(client.inbox.of(listen))
    await client.emit(event, payload)

    def is_new(message: Any) -> bool:
        return message.get("operation") == operation and client.inbox.of(listen).index(message) >= seen

    return await client.inbox.wait_for(listen, lambda m: m in client.inbox.of(listen)[seen:] and is_new(m))
