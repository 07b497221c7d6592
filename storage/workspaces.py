"""Workspace repository: workspaces (with hashed API keys) and their staff members.

A member's ``load`` is the number of active (open, pending) helpdesk tickets assigned to them in
the workspace. Adding, removing and deleting members write the tickets they hold in the same
database transaction, so that stays true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.tickets import Handover
from models.workspaces import Member, Workspace, WorkspaceRecord
from storage.database import Database


class WorkspaceStore(Protocol):
    """Domain operations on workspaces; raises ``NotFound``."""

    async def init(self) -> None:
        """Create tables or indexes if missing; give a widget token to every workspace made before them."""

    async def create(self, record: WorkspaceRecord) -> Workspace:
        """Store a new workspace."""

    async def find(self, workspace_id: str) -> WorkspaceRecord | None:
        """Return one workspace with its key hash, or None."""

    async def get(self, workspace_id: str) -> Workspace:
        """Return one workspace; ``NotFound`` if unknown."""

    async def list(self, after: tuple[datetime, str] | None, limit: int) -> list[Workspace]:
        """Return up to ``limit`` workspaces in creation order, after a cursor position."""

    async def update(
        self, workspace_id: str, name: str | None, products: list[str] | None, auto_assign: bool | None, now: datetime
    ) -> Workspace:
        """Change the given fields; ``NotFound`` if unknown."""

    async def set_key(self, workspace_id: str, key_hash: str, key_hint: str, now: datetime) -> Workspace:
        """Replace the workspace's API key hash (the old key stops working); ``NotFound`` if unknown."""

    async def find_by_widget_token(self, widget_token: str) -> WorkspaceRecord | None:
        """Return the workspace whose current widget token this is, or None (tokens are unique)."""

    async def set_widget_token(self, workspace_id: str, widget_token: str, now: datetime | None) -> WorkspaceRecord:
        """Replace the widget token (the old one stops working); with ``now`` None only give a token to a
        workspace that has none. ``NotFound`` if unknown."""

    async def set_widget_appearance(
        self, workspace_id: str, color: str | None, title: str | None, now: datetime
    ) -> WorkspaceRecord:
        """Replace the widget's colour and title (None: the default); ``NotFound`` if unknown."""

    async def set_widget_origins(self, workspace_id: str, origins: list[str], now: datetime) -> WorkspaceRecord:
        """Replace the site origins allowed to embed the widget (empty: any); ``NotFound`` if unknown."""

    async def set_identity_secret(self, workspace_id: str, secret: str, now: datetime) -> WorkspaceRecord:
        """Replace the identity-verification secret (turning verification on); ``NotFound`` if unknown."""

    async def delete(self, workspace_id: str, now: datetime) -> list[Handover]:
        """Delete a workspace and its members, and unassign their active helpdesk tickets, in one transaction.

        Returns the tickets unassigned (oldest first); ``NotFound`` (nothing written) if unknown. The
        workspace's tickets, messages, categories, topics and line managers are kept.
        """

    async def put_member(self, member: Member) -> Member:
        """Add a member (its load counted from the active tickets it already holds), or update its role and
        categories (its load is kept)."""

    async def remove_member(self, workspace_id: str, user_id: str, now: datetime) -> list[Handover]:
        """Remove a member and hand on their active helpdesk tickets of the workspace, in one transaction.

        With the workspace's ``auto_assign`` on, each ticket goes to the least-loaded agent serving its
        category (who gets 1 more load); otherwise, or if no agent serves it, it becomes unassigned.
        Returns those tickets as changed (oldest first); ``NotFound`` (nothing written) if not a member.
        """

    async def set_member_role(self, user_id: str, role: str) -> int:
        """Give every membership of the user the role (their account's new one) in one write; return how many
        changed."""

    async def get_member(self, workspace_id: str, user_id: str) -> Member | None:
        """Return one member, or None."""

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Return the workspace's members in the order they were added."""

    async def memberships(self, user_id: str) -> list[Member]:
        """Return every membership of a user."""


def make_workspace_store(db: Database) -> WorkspaceStore:
    """Return the workspace store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.workspaces import MongoWorkspaceStore

        return MongoWorkspaceStore(db)  # type: ignore[arg-type]
    from storage.sqlite.workspaces import SqliteWorkspaceStore

    return SqliteWorkspaceStore(db)  # type: ignore[arg-type]
