"""Workspace API keys: minted once, stored only as a SHA-256 hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

from models.errors import Unauthorized
from models.workspaces import Workspace, WorkspaceRecord


class WorkspaceKeys(Protocol):
    """Where a workspace's key hash is read (a ``storage.workspaces.WorkspaceStore``)."""

    async def find(self, workspace_id: str) -> WorkspaceRecord | None:
        """Return the stored workspace, with its key hash, or None."""
        ...


PREFIX = "dk_"
HINT_LENGTH = 7
INVALID_API_KEY = "Invalid API key"


def hash_api_key(api_key: str) -> str:
    """Return the stored form of an API key (a SHA-256 of a 256-bit random key needs no salt)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def room_tag(key_hash: str) -> str:
    """Return the tag naming the support rooms joined with one key (a one-way digest of its hash)."""
    return hashlib.sha256(f"support-rooms:{key_hash}".encode()).hexdigest()[:16]


def new_api_key() -> tuple[str, str, str]:
    """Return a fresh API key, its stored hash and its short public hint."""
    key = PREFIX + secrets.token_urlsafe(32)
    return key, hash_api_key(key), key[:HINT_LENGTH]


async def authenticate_workspace(store: WorkspaceKeys, workspace_id: str, api_key: str) -> Workspace:
    """Return the workspace when ``api_key`` is its current key, else raise ``Unauthorized``."""
    record = await store.find(workspace_id)
    expected = record.key_hash if record is not None else hash_api_key(PREFIX)
    if not hmac.compare_digest(expected, hash_api_key(api_key)) or record is None:
        raise Unauthorized(INVALID_API_KEY)
    return Workspace.model_validate(record.model_dump(exclude={"key_hash"}))
