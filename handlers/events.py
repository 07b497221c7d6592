"""Registers event handlers behind one ack envelope and one error mapping."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from handlers.access import ANONYMOUS, Access, Door
from handlers.compat import Compat
from handlers.context import Deps, EventContext
from handlers.deadlines import HandlerDeadlines
from handlers.logs import event_fields
from handlers.metrics import LabelledChildren
from handlers.sio_engine import message_size
from models.common import to_jsonable
from models.errors import DesklineError, ErrorCode, InvalidPayload, PayloadTooLarge, Unauthorized, UnreadablePayload
from models.workspaces import Workspace

log = logging.getLogger("deskline.events")

WIDGET_SESSION_KEY = "widget"  # models.widget.SESSION_KEY: the socket connected with a widget token
NOT_A_WIDGET = "connect with auth.widget_token to use the widget events"
MAX_DEPTH = 255  # orjson serialises at most this many nested levels

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[EventContext, Any], Awaitable[Any]]


def ok(data: Any = None) -> dict[str, Any]:
    """Return a success ack."""
    return {"ok": True, "data": to_jsonable(data)}


def failure(error: DesklineError) -> dict[str, Any]:
    """Return an error ack."""
    return {"ok": False, "error": error.to_error()}


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Return pydantic's field errors without the offending input values (they may be secrets)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(payload)", "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def parse_payload(model: type[M], payload: Any) -> M:
    """Validate ``payload`` into ``model`` or raise ``InvalidPayload`` with the field errors."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidPayload("payload must be a JSON object", [{"field": "(payload)", "message": "not an object"}])
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidPayload("payload is not valid", validation_details(exc)) from exc


class NoPayload(BaseModel):
    """The payload of an event that takes none (any fields sent are ignored)."""

    model_config = ConfigDict(extra="ignore")


class EventRouter:
    """Registers a domain's events on the server: payload model, access and ack style, declared once per event."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.deadlines = HandlerDeadlines(deps.settings.handler_timeout_seconds)  # one timer for its handlers
        self._counted = LabelledChildren("events")  # by (event, code)
        self._timed = LabelledChildren("event_seconds")  # by event
        self.events: list[str] = []
        self.models: dict[str, type[BaseModel] | None] = {}
        self.access: dict[str, Access] = {}
        self.signs_in: set[str] = set()  # events that authenticate by themselves: no session check before them

    def on(
        self,
        name: str,
        model: type[BaseModel],
        *,
        access: Access = ANONYMOUS,
        compat: Compat | None = None,
        signs_in: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(ctx, payload)`` for event ``name``; its return value is the ack's data.

        ``model`` validates the payload (``NoPayload`` for none); ``access`` says who may call it (default
        ``ANONYMOUS``); ``compat`` also answers failures in an old client's shape (``handlers.compat``).
        Every event of a signed-in socket first checks its session (token expiry, ended sessions), except
        ``signs_in`` events, which authenticate by themselves (login, refresh_token, reset_password...).
        """
        if signs_in:
            self.signs_in.add(name)

        def register(handler: Handler) -> Handler:
            async def run(sid: str, *args: Any) -> dict[str, Any]:
                return await self._dispatch(name, handler, model, access, compat, sid, args)

            self.deps.sio.on(name, run)
            self.events.append(name)
            self.models[name] = model
            self.access[name] = access
            return handler

        return register

    async def _dispatch(
        self,
        name: str,
        handler: Handler,
        model: type[BaseModel],
        access: Access,
        compat: Compat | None,
        sid: str,
        args: tuple[Any, ...],
    ) -> dict[str, Any]:
        started = time.perf_counter()
        session = await self.deps.sio.get_session(sid)
        ctx = EventContext(sid=sid, deps=self.deps, session=session)
        try:
            with self.deadlines.start():
                await self.deps.limits.check_event(ctx, name)
                payload = args[0] if args else None
                self._check_size(payload)
                if name not in self.signs_in:
                    await ctx.check_session()
                if access.door in (Door.SIGNED_IN, Door.ROLES):
                    ctx.require(*access.roles)
                data = parse_payload(model, payload)
                if access.door == Door.WORKSPACE_KEY:
                    ctx.workspace = await self._workspace(data)
                elif access.door == Door.WIDGET_VISITOR and ctx.session.get(WIDGET_SESSION_KEY) is None:
                    raise Unauthorized(NOT_A_WIDGET)
                result = await handler(ctx, data)
            if compat is not None:
                await compat.succeeded(ctx, result)
            self._done(ctx, name, "ok", started, logging.DEBUG)
            return ok(result)
        except DesklineError as err:
            return await self._fail(ctx, name, err, compat, started)
        except TimeoutError:
            log.error("event timed out", extra={"event": name, "sid": sid, "code": "internal", "reason": "timeout"})
            return await self._fail(ctx, name, _internal("the server took too long"), compat, started)
        except Exception:
            log.exception("event crashed", extra={"event": name, "sid": sid, "code": "internal"})
            return await self._fail(ctx, name, _internal("internal server error"), compat, started)

    async def _workspace(self, payload: Any) -> Workspace:
        """Return the workspace whose current API key the (validated) payload carries, else ``Unauthorized``."""
        workspace_id, api_key = getattr(payload, "workspace_id", None), getattr(payload, "api_key", None)
        if not isinstance(workspace_id, str) or not isinstance(api_key, str):
            raise TypeError("a WORKSPACE_KEY event's model must have workspace_id and api_key")
        return await self.deps.services.workspaces.authenticate(workspace_id, api_key)

    def _check_size(self, payload: Any) -> None:
        limit = self.deps.settings.max_payload_bytes
        if payload is None or isinstance(payload, bool | int | float):
            return
        size = message_size.get()  # the whole message's length, set when it is text too shallow to be refused
        if size is None:  # binary, or nested deeply enough to need a closer look
            try:
                size = len(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))
            except orjson.JSONEncodeError:
                raise unreadable(payload) from None
        if size > limit:
            raise PayloadTooLarge(f"payload is {size} bytes; the limit is {limit}", {"limit": limit, "size": size})

    async def _fail(
        self,
        ctx: EventContext,
        name: str,
        err: DesklineError,
        compat: Compat | None,
        started: float,
    ) -> dict[str, Any]:
        self._done(ctx, name, str(err.code), started, logging.INFO)
        if compat is not None:
            try:
                await compat.failed(ctx, err)
            except Exception:
                log.exception("compat answer failed", extra={"event": name, "sid": ctx.sid, "code": "internal"})
        return failure(err)

    def _done(self, ctx: EventContext, name: str, code: str, started: float, level: int) -> None:
        """Count the event, time it, and log its line (failures at INFO, successes at DEBUG)."""
        seconds = time.perf_counter() - started
        self._counted(name, code).inc()
        self._timed(name).observe(seconds)
        if log.isEnabledFor(level):
            who = ctx.principal.user_id if ctx.principal else "-"
            log.log(level, "event handled", extra=event_fields(name, ctx.sid, who, code, seconds * 1e3))


def unreadable(payload: Any) -> UnreadablePayload:
    """Return the error for a payload JSON cannot hold: a binary value, or nesting deeper than ``MAX_DEPTH``."""
    stack: list[tuple[Any, int]] = [(payload, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, bytes | bytearray | memoryview):
            return UnreadablePayload(
                "binary values are not accepted: send text, or upload the file", {"reason": "binary"}
            )
        if depth > MAX_DEPTH:
            return UnreadablePayload(
                f"the payload is nested deeper than {MAX_DEPTH} levels", {"reason": "too_deep", "limit": MAX_DEPTH}
            )
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((item, depth + 1) for item in value)
    return UnreadablePayload("the payload cannot be read as JSON", {"reason": "not_json"})


def _internal(message: str) -> DesklineError:
    err = DesklineError(message)
    err.code = ErrorCode.INTERNAL
    return err
