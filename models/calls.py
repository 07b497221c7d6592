"""WebRTC call signalling: the stored call, Deskline's call payloads and the Dowell-compatible ones."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from models.common import CompatPayload, Document, Identifier, Name, Payload
from models.errors import Conflict

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
