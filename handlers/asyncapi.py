"""The AsyncAPI 3 document of the Socket.IO API, built from the event registry and the pydantic models.

Every event a client may emit (its payload model, who may call it, its ack: success data or an error whose code
is an ``ErrorCode``) and every push the server sends (``models.pushes.ALL_PUSHES``). Served at
``/asyncapi.json``; ``python server.py asyncapi`` prints it as YAML (``docs/asyncapi.yaml``, kept current by
``tests/test_asyncapi.py``).
"""

from __future__ import annotations

import inspect
import typing
from functools import cache
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from config import Settings
from handlers import DOMAINS
from handlers.access import Access
from handlers.compat import Compat
from handlers.events import EventRouter, Handler
from handlers.sio_server import DesklineServer
from models.errors import ErrorCode
from models.pushes import ALL_PUSHES, Push

CHANNEL = "socketio"
SCHEMAS = "#/components/schemas/"


class _Unbuilt:
    """Stands in for the services while domains only declare their events (no handler runs)."""

    def __getattr__(self, name: str) -> _Unbuilt:
        return _Unbuilt()


class _CatalogRouter(EventRouter):
    """An ``EventRouter`` that also remembers each event's compat style and handler."""

    def __init__(self, deps: Any) -> None:
        super().__init__(deps)
        self.compat: dict[str, Compat | None] = {}
        self.handlers: dict[str, Handler] = {}

    def on(self, name: str, model: type[BaseModel], **kwargs: Any) -> Any:  # type: ignore[override]
        """Declare ``name`` as usual and remember its compat style and handler."""
        self.compat[name] = kwargs.get("compat")
        declare = super().on(name, model, **kwargs)

        def register(handler: Handler) -> Handler:
            self.handlers[name] = handler
            return declare(handler)

        return register


class Event(typing.NamedTuple):
    """One declared client event."""

    model: type[BaseModel] | None
    access: Access
    compat: Compat | None
    returns: type[BaseModel] | None
    summary: str


def registry() -> dict[str, Event]:
    """Declare every domain's events on a server that is never started; return them by name."""
    deps = SimpleNamespace(sio=DesklineServer(async_mode="aiohttp"), settings=Settings.model_construct())  # defaults
    events: dict[str, Event] = {}
    for register in DOMAINS:
        router = _CatalogRouter(deps)
        register(router, _Unbuilt())  # type: ignore[arg-type]
        for name in router.events:
            handler = router.handlers[name]
            events[name] = Event(
                router.models[name], router.access[name], router.compat[name], _returns(handler), _summary(handler)
            )
    return dict(sorted(events.items()))


def _returns(handler: Handler) -> type[BaseModel] | None:
    try:
        returned = typing.get_type_hints(handler).get("return")
    except (NameError, TypeError):
        return None
    return returned if inspect.isclass(returned) and issubclass(returned, BaseModel) else None


def _summary(handler: Handler) -> str:
    return inspect.getdoc(handler) or ""


def _doc(model: type[BaseModel]) -> str:
    own = model.__dict__.get("__doc__")  # not BaseModel's, which getdoc() would inherit
    return inspect.cleandoc(own) if own else model.__name__


class MissingSchema(Exception):
    """An event or push has no payload model."""


@cache
def document(version: str = "0.1.0") -> dict[str, Any]:
    """Return the AsyncAPI 3.0 document (raise ``MissingSchema`` when an event or push has no model)."""
    events = registry()
    missing = [name for name, event in events.items() if event.model is None]
    missing += [name for name, push in ALL_PUSHES.items() if push.model is None]
    if missing:
        raise MissingSchema(f"no payload model for: {', '.join(sorted(missing))}")
    wanted: list[tuple[type[BaseModel], Any]] = []
    for event in events.values():
        wanted.append((event.model, "validation"))  # type: ignore[arg-type]
        if event.returns is not None:
            wanted.append((event.returns, "serialization"))
    wanted += [(push.model, "serialization") for push in ALL_PUSHES.values()]
    wanted = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(wanted, ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))
    schemas["ErrorAck"] = ERROR_ACK
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    channel_ref = {"$ref": f"#/channels/{CHANNEL}"}
    for name, event in events.items():
        assert event.model is not None
        payload = refs[(event.model, "validation")]
        data = refs[(event.returns, "serialization")] if event.returns is not None else {}
        messages[name] = {
            "name": name,
            "title": name,
            "summary": event.summary or _doc(event.model),
            "payload": payload,
            "x-access": str(event.access),
        }
        if event.compat is not None:
            messages[name]["x-compat"] = _compat(event.compat)
        messages[f"{name}.ack"] = {
            "name": f"{name}.ack",
            "summary": f"The ack of `{name}`: `ok` with the data, or an error whose code is an ErrorCode.",
            "payload": {"oneOf": [_ok_ack(data), {"$ref": SCHEMAS + "ErrorAck"}]},
        }
        operations[f"on.{name}"] = {
            "action": "receive",
            "channel": channel_ref,
            "summary": f"A client emits `{name}` ({event.access}).",
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{name}"}],
            "reply": {"channel": channel_ref, "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{name}.ack"}]},
        }
    for name, push in sorted(ALL_PUSHES.items()):
        key = f"push.{name}"
        payload = refs[(push.model, "serialization")]
        if push.bare:
            payload = {"description": "sent bare: the value of the model's one field, or no data", **payload}
        messages[key] = {"name": name, "title": name, "summary": _doc(push.model), "payload": payload}
        operations[key] = {
            "action": "send",
            "channel": channel_ref,
            "summary": f"The server pushes `{name}`.",
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Deskline",
            "version": version,
            "description": (
                "Deskline's Socket.IO API (namespace `/`). Clients emit events with an ack callback; the ack is "
                "`{ok: true, data}` or `{ok: false, error: {code, message, details}}`. Compatibility events "
                "(x-compat) also answer in their old shape on a pushed event. Generated from the event registry "
                "and the pydantic models: `python server.py asyncapi`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:8000",
                "protocol": "ws",
                "pathname": "/socket.io/",
                "description": "Socket.IO v5 over Engine.IO v4 (WebSocket, or HTTP long-polling).",
            }
        },
        "channels": {
            CHANNEL: {
                "address": "/",
                "title": "Socket.IO namespace /",
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
            }
        },
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _compat(compat: Compat) -> dict[str, Any]:
    described: dict[str, Any] = {"style": type(compat).__name__}
    for field in ("response", "operation", "echo"):
        if hasattr(compat, field):
            value = getattr(compat, field)
            described[field] = value.name if isinstance(value, Push) else value
    return described


def _ok_ack(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ok", "data"],
        "properties": {"ok": {"const": True}, "data": data},
    }


ERROR_ACK: dict[str, Any] = {
    "type": "object",
    "title": "ErrorAck",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
                "message": {"type": "string"},
                "details": {},
            },
        },
    },
}


def to_yaml(doc: dict[str, Any]) -> str:
    """Return ``doc`` as YAML, keys in document order."""
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


async def serve(request: web.Request) -> web.Response:
    """Answer ``GET /asyncapi.json``."""
    return web.json_response(document())
