"""WebRTC call signalling: the stored call, Deskline's call payloads and the Dowell-compatible ones."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from models.common import CompatPayload, Document, Identifier, Name, Payload
from models.errors import Conflict
from models.pushes import Push

Sdp = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=100_000)]
Media = Literal["audio", "video"]
# A Dowell peer: a socket id or a user id; never a room name (no ':'), so it cannot reach a room.
PeerRef = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# A simple-peer signal: an object such as {type, sdp} or {candidate}, or a non-empty string.
Signal = dict[str, Any] | Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class CallState(StrEnum):
    """ringing -> active -> ended; ringing -> ended (rejected, missed, hung up)."""

    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class EndReason(StrEnum):
    """Why a call ended."""

    HANGUP = "hangup"
    REJECTED = "rejected"
    MISSED = "missed"
    DISCONNECTED = "disconnected"
    INSTANCE_LOST = "instance_lost"


class CallProtocol(StrEnum):
    """Which client protocol placed the call."""

    DESKLINE = "deskline"
    DOWELL = "dowell"


OPEN_STATES = (CallState.RINGING, CallState.ACTIVE)


def busy(user_id: str, call_id: str | None = None) -> Conflict:
    """Return the ``conflict`` (reason ``busy``) for a user who is already a party of an active call."""
    details: dict[str, Any] = {"user_id": user_id, "reason": "busy"}
    if call_id is not None:
        details = {"call_id": call_id, **details}
    return Conflict("the user is busy in another call", details)


class Call(Document):
    """A call as stored: any instance can read it and move it on with a conditional update."""

    id: str
    protocol: CallProtocol
    state: CallState
    media: Media | None = None
    caller_user: str | None = None
    caller_name: str = ""
    caller_sid: str
    caller_instance: str
    caller_ref: str | None = None
    invited: list[str]
    rejected: list[str] = Field(default_factory=list)
    callee_user: str | None = None
    callee_sid: str | None = None
    callee_instance: str | None = None
    end_reason: EndReason | None = None
    ended_by: str | None = None
    created_at: datetime
    ring_deadline: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """Return what a party may see (socket ids and instances stay inside)."""
        return self.model_dump(
            mode="json", exclude={"caller_sid", "caller_instance", "callee_sid", "callee_instance", "caller_ref"}
        )


class IceCandidate(Payload):
    """An RTCIceCandidateInit; an empty ``candidate`` string marks the end of candidates."""

    candidate: Annotated[str, StringConstraints(max_length=2_000)]
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=1024)] | None = None
    usernameFragment: Annotated[str, StringConstraints(max_length=256)] | None = None


class CallInvitePayload(Payload):
    """``call_invite``: ring one user with an SDP offer."""

    to_user: Identifier
    media: Media
    sdp: Sdp


class CallAgentsPayload(Payload):
    """``call_agents``: a visitor rings every available agent (of one workspace, when named); first answer wins."""

    media: Media
    sdp: Sdp
    workspace_id: Identifier | None = None
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _key_with_workspace(self) -> CallAgentsPayload:
        if (self.workspace_id is None) != (self.api_key is None):
            raise ValueError("workspace_id and api_key go together")
        return self


class CallAnswerPayload(Payload):
    """``call_answer``: take a ringing call with an SDP answer."""

    call_id: Identifier
    sdp: Sdp


class CallIcePayload(Payload):
    """``call_ice``: one trickled ICE candidate for the other party."""

    call_id: Identifier
    candidate: IceCandidate


class CallIdPayload(Payload):
    """``call_reject`` / ``call_hangup``: the call."""

    call_id: Identifier


class CallUserPayload(CompatPayload):
    """Dowell ``callUser``: relay the caller's signal to a socket id or a user id."""

    signalData: Signal
    from_: Annotated[str, StringConstraints(max_length=200)] | None = Field(None, alias="from")
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    userToCall: PeerRef


class AnswerCallPayload(CompatPayload):
    """Dowell ``answerCall``: relay the callee's signal back to the caller."""

    signal: Signal
    to: PeerRef


class CallIncoming(Document):
    """Push ``call_incoming``: a call rings (``from_user`` is null for an anonymous visitor)."""

    call_id: str
    from_user: str | None
    from_name: str
    media: Media
    sdp: str


class CallAnswered(Document):
    """Push ``call_answered``: the callee's SDP answer, to the calling socket."""

    call_id: str
    sdp: str
    by_user: str


class CallTaken(Document):
    """Push ``call_taken``: another socket answered the call (to the invited users' other sockets)."""

    call_id: str
    by_user: str


class CallIce(Document):
    """Push ``call_ice``: one ICE candidate for the other party (``candidate`` keeps only the keys sent)."""

    call_id: str
    candidate: dict[str, Any]
    from_user: str | None


class CallEnded(Document):
    """Push ``call_ended``: the call ended (hung up, rejected, disconnected, instance lost)."""

    call_id: str
    reason: EndReason | None
    by_user: str | None


class CallMissed(Document):
    """Push ``call_missed``: the call rang out unanswered."""

    call_id: str


class CallUserSignal(Document):
    """Push ``callUser`` (Dowell): a caller's signal; ``from`` is its user id when ``verified``, else its socket id."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    signal: Signal
    from_: str = Field(alias="from")
    name: str
    verified: bool


class CallAccepted(Document):
    """Push ``callAccepted`` (Dowell): the callee's raw signal, sent bare (an object or a string), as Dowell did."""

    signal: Signal


class DowellCallEnded(Document):
    """Push ``callEnded`` (Dowell): sent with no data, as Dowell did."""


CALL_INCOMING = Push("call_incoming", CallIncoming)
CALL_ANSWERED = Push("call_answered", CallAnswered)
CALL_TAKEN = Push("call_taken", CallTaken)
CALL_ICE = Push("call_ice", CallIce)
CALL_ENDED = Push("call_ended", CallEnded)
CALL_MISSED = Push("call_missed", CallMissed)
CALL_USER = Push("callUser", CallUserSignal)
CALL_ACCEPTED = Push("callAccepted", CallAccepted, bare=True)
DOWELL_CALL_ENDED = Push("callEnded", DowellCallEnded, bare=True)
