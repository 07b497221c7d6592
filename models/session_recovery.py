"""Connection-state recovery vocabulary: a dropped socket's saved session and the packets it may have missed."""

from __future__ import annotations

from dataclasses import dataclass, field

# The CONNECT auth keys of the socket.io recovery protocol (and Deskline's opt-in flag).
PID_KEY = "pid"
OFFSET_KEY = "offset"
OPT_IN_KEY = "recover"
# Set in a socket's Socket.IO session when its transport dropped and its session is kept for recovery: the
# disconnect hooks may expect it back (presence waits a grace period before announcing it offline).
DROPPED_KEY = "recovery_dropped"


@dataclass(frozen=True)
class SavedSession:
    """What a socket that dropped needs to come back as itself: its ids, rooms, principal and replay start."""

    pid: str  # the private session id the client was given in the CONNECT reply
    sid: str  # the public socket id, kept across the drop (rooms, presence and sessions use it)
    rooms: list[str] = field(default_factory=list)
    who: str | None = None  # the identity it had (user, widget visitor; None: anonymous): a reconnect must prove it
    since: int = 0  # the last offset that existed when the socket connected (replay start for zero-event sockets)


@dataclass(frozen=True)
class StoredPacket:
    """One persisted broadcast: its offset, its Socket.IO data (``[event, *args]`` as JSON) and where it went."""

    offset: int
    data: str
    rooms: list[str] = field(default_factory=list)  # empty: every socket of the namespace
    skip: list[str] = field(default_factory=list)  # sids it was not sent to


@dataclass(frozen=True)
class RequestClaim:
    """The outcome of claiming an idempotency key: new (run the event), or its saved ack (``None``: still running)."""

    new: bool
    ack: str | None = None


def restorable_room(room: str) -> bool:
    """Return whether a recovered socket gets ``room`` back as is: rooms anyone may join without a credential.

    Rooms that took a credential are derived again by ``connect`` from the reconnect's auth (signed-in, ticket
    and widget rooms), given back after a fresh check of the right (``handlers.recovery_rooms``: workspace and
    presence rooms), or joined again by the client (key and manager rooms).
    """
    return room.startswith("chat:") or (room.startswith("office:") and room.count(":") == 1)
