"""Typed room names: the one place that spells them."""

from __future__ import annotations


def user_room(user_id: str) -> str:
    """Room holding every socket of one user, on every instance."""
    return f"user:{user_id}"


def ticket_room(ticket_id: str) -> str:
    """Room of a signed-in ticket's participants."""
    return f"ticket:{ticket_id}"


def workspace_room(workspace_id: str) -> str:
    """Room of a workspace's signed-in staff; nothing carrying ticket content is pushed to it."""
    return f"workspace:{workspace_id}"


def workspace_staff_room(workspace_id: str, user_id: str) -> str:
    """Room of one member's sockets subscribed to a workspace (``subscribe_workspace``)."""
    return f"workspace:{workspace_id}:staff:{user_id}"


def workspace_admins_room(workspace_id: str) -> str:
    """Room of the admin sockets subscribed to a workspace (admins may see all of its tickets)."""
    return f"workspace:{workspace_id}:admins"


def office_room(ref_office: str) -> str:
    """Room of the sockets tracking a queue office."""
    return f"office:{ref_office}"


def office_managers_room(ref_office: str) -> str:
    """Room of the managers watching an office's live stats."""
    return f"office:{ref_office}:managers"


def role_room(role: str) -> str:
    """Room of every signed-in socket with a given role."""
    return f"role:{role}"


def chat_room(name: str) -> str:
    """Room of a public (Dowell-style) chat room; prefixed so it can never alias a private room."""
    return f"chat:{name}"


def support_workspace_room(workspace_id: str, key_tag: str) -> str:
    """Room of the Dowell-compatible sockets watching a workspace's support tickets with one API key.

    ``key_tag`` (``auth.workspace_keys.room_tag``) names the key: after a rotation, pushes go to the
    new key's rooms, so sockets that joined with the old key get nothing more.
    """
    return f"support:workspace:{workspace_id}:{key_tag}"


def support_ticket_room(ticket_id: str, key_tag: str) -> str:
    """Room of the Dowell-compatible sockets chatting in one support ticket with one API key."""
    return f"support:ticket:{ticket_id}:{key_tag}"


def widget_workspace_room(workspace_id: str, token_tag: str) -> str:
    """Room of every widget socket of a workspace connected with one widget token (``token_tag`` names it)."""
    return f"widget:workspace:{workspace_id}:{token_tag}"


def widget_identity_room(workspace_id: str, identity_tag: str) -> str:
    """Room of the widget sockets whose visitor was verified with one identity secret."""
    return f"widget:identity:{workspace_id}:{identity_tag}"


def widget_visitor_room(workspace_id: str, visitor_id: str, token_tag: str) -> str:
    """Room of one widget visitor's sockets (connected with one widget token): only they enter it."""
    return f"widget:visitor:{workspace_id}:{visitor_id}:{token_tag}"


def pool_admins_room() -> str:
    """Room of the admin sockets watching the pull-assignment pool's live counts."""
    return "pool:admins"


def is_public_room(room: str) -> bool:
    """Return whether anonymous sockets may be in ``room`` (public chat, key support, widget, office trackers)."""
    if room.startswith(("chat:", "support:", "widget:")):
        return True
    return room.startswith("office:") and room.count(":") == 1


def presence_room(user_id: str) -> str:
    """Room of the sockets watching one user's presence (``watch_presence``)."""
    return f"presence:{user_id}"


def presence_audience(user_id: str, colleagues: list[str] | None) -> list[str]:
    """Rooms told of a user's presence: watchers; for staff (``colleagues`` given) own sockets, colleagues, admins."""
    rooms = [presence_room(user_id)]
    if colleagues is not None:
        rooms += [user_room(user_id), *(user_room(c) for c in colleagues if c != user_id), role_room("admin")]
    return rooms


def peer_rooms(ref: str) -> list[str]:
    """Rooms reaching a Dowell call peer named by socket id or user id: that socket, or every socket of that user."""
    if not ref or ":" in ref:
        raise ValueError("a peer reference is a socket id or a user id, never a room name")
    return [ref, user_room(ref)]


def helpdesk_stats_room(workspace_id: str, user_id: str | None = None) -> str:
    """Room of one manager's sockets watching a workspace's ticket activity (``helpdesk_stats``); without
    ``user_id``, that of the watching admins."""
    return f"helpdesk_stats:{workspace_id}:{user_id or 'admins'}"
