"""Workspaces (tenants of the helpdesk), their API keys and their staff members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StringConstraints, field_validator

from models.common import Document, Identifier, Limit, Name, Payload
from models.pushes import Push

ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MemberRole = Literal["agent", "manager"]


def _unique(values: list[str]) -> list[str]:
    """Return ``values`` without duplicates, in their first order."""
    return list(dict.fromkeys(values))


class Workspace(Document):
    """A workspace as clients see it: never with its API key or the key's hash."""

    id: str
    name: str
    products: list[str] = Field(default_factory=list)
    auto_assign: bool = True
    key_hint: str = Field(description="the first characters of the current API key, to tell keys apart")
    created_at: datetime
    updated_at: datetime


class WorkspaceRecord(Workspace):
    """A stored workspace with the SHA-256 of its API key and its widget secrets; stays inside the server.

    ``widget_token`` is None only on rows written before widgets had tokens, until ``init`` gives them one.
    ``identity_secret`` is None while identity verification is off (``rotate_identity_secret`` turns it on).
    """

    key_hash: str
    widget_token: str | None = None
    widget_origins: list[str] = Field(default_factory=list)
    identity_secret: str | None = None
    widget_color: str | None = None
    widget_title: str | None = None


class WorkspaceWithKey(Document):
    """The answer to create/rotate: the only time the plain API key is ever shown (plus the public widget token)."""

    workspace: Workspace
    api_key: str
    widget_token: str | None = None


class Member(Document):
    """A staff user (agent or manager) of a workspace; ``categories`` empty means all of them."""

    workspace_id: str
    user_id: str
    role: MemberRole
    categories: list[str] = Field(default_factory=list)
    load: int = Field(0, description="active helpdesk tickets assigned to this member")
    created_at: datetime


class MyWorkspace(Document):
    """A workspace the caller is a staff member of, with their membership (``list_my_workspaces``)."""

    workspace: Workspace
    member: Member


class CreateWorkspacePayload(Payload):
    """``create_workspace`` (admin)."""

    name: Name
    products: Annotated[list[ProductName], Field(max_length=100)] = Field(default_factory=list)
    auto_assign: StrictBool = True

    _dedupe = field_validator("products")(_unique)


class UpdateWorkspacePayload(Payload):
    """``update_workspace`` (admin): change the name or the settings."""

    workspace_id: Identifier
    name: Name | None = None
    products: Annotated[list[ProductName], Field(max_length=100)] | None = None
    auto_assign: StrictBool | None = None

    @field_validator("products")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return _unique(value) if value is not None else None


class WorkspaceIdPayload(Payload):
    """A payload naming one workspace."""

    workspace_id: Identifier


class ListWorkspacesPayload(Payload):
    """``list_workspaces`` (admin): a page in creation order."""

    cursor: str | None = None
    limit: Limit = 50


class AddMemberPayload(Payload):
    """``add_workspace_member`` (admin): add or update an agent/manager of a workspace."""

    workspace_id: Identifier
    user_id: Identifier
    categories: Annotated[list[Identifier], Field(max_length=100)] = Field(default_factory=list)

    _dedupe = field_validator("categories")(_unique)


class MemberPayload(Payload):
    """A payload naming one member of a workspace."""

    workspace_id: Identifier
    user_id: Identifier


class Revoked(Document):
    """Push ``workspace_key_revoked`` / ``widget_token_revoked``: the credential a socket joined with died."""

    workspace_id: str
    reason: str


class WorkspaceKeyRevoked(Revoked):
    """Push ``workspace_key_revoked``: to the support rooms joined with a rotated or deleted API key."""


class WidgetTokenRevoked(Revoked):
    """Push ``widget_token_revoked``: to the widget sockets whose token or identity secret was rotated or deleted."""


WORKSPACE_KEY_REVOKED = Push("workspace_key_revoked", WorkspaceKeyRevoked)
WIDGET_TOKEN_REVOKED = Push("widget_token_revoked", WidgetTokenRevoked)
