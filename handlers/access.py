"""Who may call an event: one small typed value per event, checked by the router before the handler runs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.roles import Role


class Door(StrEnum):
    """The ways a caller can be let in."""

    ANONYMOUS = "anonymous"  # anyone connected (a signed-in socket's session is still checked)
    SIGNED_IN = "signed_in"  # a signed-in user of any role
    ROLES = "roles"  # a signed-in user of one of ``Access.roles``
    WORKSPACE_KEY = "workspace_key"  # the payload's ``workspace_id`` + ``api_key`` (Dowell); sets ``ctx.workspace``
    WIDGET_VISITOR = "widget_visitor"  # a socket connected with a widget token


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call an event."""

    door: Door
    roles: frozenset[Role] = frozenset()

    def __str__(self) -> str:
        return f"roles({', '.join(sorted(self.roles))})" if self.door == Door.ROLES else str(self.door)


ANONYMOUS = Access(Door.ANONYMOUS)
SIGNED_IN = Access(Door.SIGNED_IN)
WORKSPACE_KEY = Access(Door.WORKSPACE_KEY)
WIDGET_VISITOR = Access(Door.WIDGET_VISITOR)
ADMIN = Access(Door.ROLES, frozenset({Role.ADMIN}))


def roles(*allowed: Role) -> Access:
    """Access for signed-in users of one of ``allowed``."""
    if not allowed:
        raise ValueError("name at least one role (or use SIGNED_IN)")
    return Access(Door.ROLES, frozenset(allowed))
