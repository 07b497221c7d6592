"""Compatibility envelopes: how old (Dowell) clients are told an event failed, declared per event on the router.

``router.on(name, Model, compat=DowellEnvelope(response=TICKET_RESPONSE, operation="create_ticket"))``: every
failure of the event (bad payload, bad key, domain error, rate limit, crash) goes out as the Deskline error ack
*and* as ``{"data": <sentence>, "status": "failure", "operation": ...}`` pushed on ``response`` to the caller.
``response`` is a declared push (``models.support``): envelopes go through the one emitter like every push.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from models.chat import MY_RESPONSE, ChatResponse
from models.common import to_jsonable
from models.errors import DesklineError, ErrorCode
from models.pushes import Push
from models.support import DowellResponse

INVALID = "Invalid Data"
INTERNAL = "Something went wrong, please try again"


class Sender(Protocol):
    """Sends a declared push to the calling socket (``EventContext.push``, over the one emitter)."""

    async def push(self, push: Push[Any], payload: Any, *, to: str | None = None, skip_self: bool = False) -> None:
        """Push ``payload`` as ``push`` to ``to`` (default: the calling socket)."""
        ...


class Compat(Protocol):
    """A compatibility style: what the caller is pushed when its event fails (and, maybe, when it succeeds)."""

    async def failed(self, ctx: Sender, err: DesklineError) -> None:
        """Push the failure in the old shape to the caller."""
        ...

    async def succeeded(self, ctx: Sender, data: Any) -> None:
        """Push the success in the old shape to the caller, if the style echoes it."""
        ...


def envelope(data: Any, status: str, operation: str) -> DowellResponse:
    """Return the Dowell response shape."""
    return DowellResponse(data=to_jsonable(data), status=status, operation=operation)


def sentence(err: DesklineError) -> str:
    """Return the human sentence an old client shows for ``err``."""
    if err.code in (ErrorCode.INVALID_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE):
        return INVALID
    if err.code == ErrorCode.INTERNAL:
        return INTERNAL
    return err.message


@dataclass(frozen=True, slots=True)
class DowellEnvelope:
    """Dowell support style: ``{"data", "status", "operation"}`` on ``response``.

    Failures always go out; with ``echo=True`` the handler's return value also goes out as the success envelope
    (leave it off when the handler pushes the success itself, e.g. to a room rather than the caller).
    """

    response: Push[DowellResponse]
    operation: str
    echo: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.response, Push) or self.response.model is not DowellResponse:
            raise TypeError(f"DowellEnvelope.response must be a declared Dowell push, not {self.response!r}")

    async def failed(self, ctx: Sender, err: DesklineError) -> None:
        """Push the failure envelope."""
        await ctx.push(self.response, envelope(sentence(err), "failure", self.operation))

    async def succeeded(self, ctx: Sender, data: Any) -> None:
        """Push the success envelope when ``echo`` is on."""
        if self.echo:
            await ctx.push(self.response, envelope(data, "success", self.operation))


@dataclass(frozen=True, slots=True)
class DowellChat:
    """Dowell Chat V2 style: a bad or oversized payload is answered ``{"data": "Invalid Data"}`` on ``my_response``."""

    async def failed(self, ctx: Sender, err: DesklineError) -> None:
        """Push "Invalid Data" for a payload the server could not take; other failures only get the ack."""
        if err.code in (ErrorCode.INVALID_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE):
            await ctx.push(MY_RESPONSE, ChatResponse(data=INVALID))

    async def succeeded(self, ctx: Sender, data: Any) -> None:
        """Nothing: chat events push their own lines."""


DOWELL_CHAT = DowellChat()
