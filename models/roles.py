"""Roles and the principal (who is behind a socket): shared vocabulary every layer may import."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.errors import Forbidden, Unauthorized


class Role(StrEnum):
    """Account roles, from most to least powerful."""

    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"
    CLIENT = "client"


STAFF_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.AGENT})


# Where a signed-in socket keeps its Principal in its Socket.IO session.
PRINCIPAL_KEY = "principal"


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user as a handler sees it."""

    user_id: str
    role: Role
    name: str = ""


def require_principal(principal: Principal | None) -> Principal:
    """Return the principal, or raise ``Unauthorized`` for an anonymous socket."""
    if principal is None:
        raise Unauthorized("sign in first: connect with auth.token or send login")
    return principal


def require_role(principal: Principal | None, roles: frozenset[Role] | set[Role]) -> Principal:
    """Return the principal when its role is one of ``roles``, else raise."""
    who = require_principal(principal)
    if who.role not in roles:
        allowed = ", ".join(sorted(str(r) for r in roles))
        raise Forbidden(f"this needs one of the roles: {allowed}", {"role": str(who.role)})
    return who
