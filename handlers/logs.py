"""Log lines as JSON (one object per line) or text, with the structured fields of an event line.

Code logs structured fields with ``extra=``: ``log.info("event handled", extra=event_fields(...))``. The JSON
format writes them as keys; the text format appends them as ``key=value``. An event line carries ``event``,
``sid``, ``user``, ``code`` and ``duration_ms``, never a payload, token, password or API key.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from config import Settings

# Structured fields a record may carry (through ``extra=``), in the order the text format shows them.
FIELDS = ("event", "sid", "user", "code", "duration_ms", "reason")
EVENT_FIELDS = ("event", "sid", "user", "code", "duration_ms")

# Older lines spell their fields in the message ("event=stopped", "event=x sid=y user=z code=c ..."): the JSON
# format lifts these four (their values never hold spaces) so every line can be filtered the same way.
_SPELLED = re.compile(r"(?:^|\s)(event|sid|user|code)=([^\s=]+)(?=\s|$)")

# Libraries whose DEBUG output carries payloads, SQL parameters or commands: never below WARNING.
QUIET_LIBRARIES = (
    "aiosqlite",
    "pymongo",
    "asyncio",
    "aiohttp",
    "socketio",
    "engineio",
    "redis",
    "aiosmtplib",
    "mail.log",
)


def event_fields(event: str, sid: str, user: str, code: str, duration_ms: float) -> dict[str, Any]:
    """Return the ``extra=`` of an event line."""
    return {"event": event, "sid": sid, "user": user, "code": code, "duration_ms": round(duration_ms, 2)}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the structured fields, and exc when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, found in _SPELLED.findall(line["msg"]):
            line.setdefault(key, found)
        for key in FIELDS:
            if key in record.__dict__:
                line[key] = record.__dict__[key]
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...``, for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """Return the line with the structured fields appended."""
        text = super().formatMessage(record)
        extra = " ".join(f"{key}={record.__dict__[key]}" for key in FIELDS if key in record.__dict__)
        return f"{text} {extra}" if extra else text


def log_format(settings: Settings, stream: TextIO) -> str:
    """Return ``json`` or ``text``: the setting, or for ``auto`` text on a terminal and JSON otherwise."""
    if settings.log_format != "auto":
        return settings.log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Send every log line to ``stream`` (stderr) in the configured format, at ``log_level``."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format(settings, stream) == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in QUIET_LIBRARIES:
        if logging.getLogger(name).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
