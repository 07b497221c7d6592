"""Logs: JSON lines with the event fields, and no secret anywhere in the log of a full run at DEBUG."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config import Settings
from handlers.logs import EVENT_FIELDS, JsonFormatter, TextFormatter, configure_logging, event_fields, log_format
from tests.helpers import ServerProcess, connect_client, free_port
from tests.notify_doubles import MailCatcher, mail
from tests.test_recovery import reset_link, token_of

__all__ = ["mail"]  # fixture

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def record(**extra: Any) -> logging.LogRecord:
    """Return an INFO record of logger ``deskline.events`` carrying ``extra``."""
    rec = logging.LogRecord("deskline.events", logging.INFO, __file__, 1, "event handled", None, None)
    rec.__dict__.update(extra)
    return rec


def test_both_formats_render_the_event_fields() -> None:
    fields = event_fields("login", "abc", "-", "unauthorized", 3.14159)
    line = json.loads(JsonFormatter().format(record(**fields)))
    assert {k: line[k] for k in EVENT_FIELDS} == {**fields, "duration_ms": 3.14}
    assert line["level"] == "INFO" and line["logger"] == "deskline.events" and line["msg"] == "event handled"
    text = TextFormatter().format(record(**fields))
    assert text.endswith("event handled event=login sid=abc user=- code=unauthorized duration_ms=3.14")


def test_json_lifts_fields_spelled_in_older_messages() -> None:
    rec = logging.LogRecord(
        "deskline", logging.INFO, __file__, 1, "event=%s user=%s reason=%s", ("x", "u1", "a b"), None
    )
    line = json.loads(JsonFormatter().format(rec))
    assert (line["event"], line["user"], line["msg"]) == ("x", "u1", "event=x user=u1 reason=a b")
    assert "reason" not in line and "sid" not in line


def test_format_defaults_to_text_on_a_terminal_and_json_elsewhere(tmp_path: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    settings = Settings(data_dir=tmp_path)
    assert log_format(settings, Tty()) == "text"
    assert log_format(settings, io.StringIO()) == "json"
    assert log_format(Settings(data_dir=tmp_path, log_format="text"), io.StringIO()) == "text"
    assert log_format(Settings(data_dir=tmp_path, log_format="json"), Tty()) == "json"


def test_configure_logging_keeps_chatty_libraries_at_warning(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("aiosqlite").level)
    out = io.StringIO()
    try:
        configure_logging(Settings(data_dir=tmp_path, log_level="DEBUG", log_format="json"), out)
        logging.getLogger("aiosqlite").debug("executing INSERT ... ('a password')")
        logging.getLogger("deskline.x").debug("kept", extra={"event": "x"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiosqlite").setLevel(saved[2])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["logger"], line["event"]) for line in lines] == [("deskline.x", "x")]


async def http_json(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """Return the status and JSON body of a request."""
    async with aiohttp.ClientSession() as http, http.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json()


async def upload(url: str, headers: dict[str, str]) -> None:
    """Upload a small PNG with ``headers`` and expect 201."""
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", PNG, filename="shot.png", content_type="image/png")
    status, body = await http_json("POST", f"{url}/api/attachments", data=form, headers=headers)
    assert status == 201, body


@pytest.mark.timeout(180)
async def test_a_full_run_at_debug_logs_no_secret(tmp_path: Path, mail: MailCatcher) -> None:
    tag = uuid.uuid4().hex[:6]
    secrets: dict[str, str] = {
        "jwt secret": f"jwt-secret-{tag}-" + "q" * 40,
        "admin password": f"admin pass {tag} zebra",
        "user password": f"user pass {tag} walrus",
        "new password": f"new pass {tag} narwhal",
        "wrong password 1": f"wrong pass {tag} one",
        "wrong password 2": f"wrong pass {tag} two",
        "invalid payload password": f"bad payload pass {tag}",
    }
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path / "data"),
        "DESKLINE_JWT_SECRET": secrets["jwt secret"],
        "DESKLINE_LOG_FORMAT": "json",
        "DESKLINE_LOG_LEVEL": "DEBUG",
        "DESKLINE_SMTP_HOST": "127.0.0.1",
        "DESKLINE_SMTP_PORT": str(mail.port),
        "DESKLINE_SMTP_STARTTLS": "false",
        "DESKLINE_NOTIFY_POLL_SECONDS": "0.2",
        "DESKLINE_ARGON2_TIME_COST": "1",
        "DESKLINE_ARGON2_MEMORY_KIB": "1024",
        "DESKLINE_ARGON2_PARALLELISM": "1",
    }
    admin_email, user_email = f"admin-{tag}@example.com", f"user-{tag}@example.com"
    Path(env["DESKLINE_DATA_DIR"]).mkdir(parents=True)
    made = subprocess.run(
        [sys.executable, "server.py", "create-admin", "--email", admin_email, "--password", secrets["admin password"]],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    server = await ServerProcess(env, free_port()).start()
    clients = []
    try:
        anon = await connect_client(server.url)
        clients.append(anon)
        # register, failed logins, login, refresh
        pair = await anon.ok("register", {"email": user_email, "name": "Ana", "password": secrets["user password"]})
        for wrong in ("wrong password 1", "wrong password 2"):
            await anon.error("login", {"email": user_email, "password": secrets[wrong]}, "unauthorized")
        pair2 = await anon.ok("login", {"email": user_email, "password": secrets["user password"]})
        pair3 = await anon.ok("refresh_token", {"refresh_token": pair2["refresh_token"]})
        # an invalid payload that carries a password
        await anon.error(
            "register", {"email": "not an email", "password": secrets["invalid payload password"]}, "invalid_payload"
        )
        await anon.error("login", {"email": 42, "password": secrets["invalid payload password"]}, "invalid_payload")
        # a password reset by email
        await anon.ok("request_password_reset", {"email": user_email})
        [message] = await mail.wait_count(1)
        reset_token = token_of(reset_link(message))
        await anon.ok("reset_password", {"token": reset_token, "new_password": secrets["new password"]})
        pair4 = await anon.ok("login", {"email": user_email, "password": secrets["new password"]})
        await upload(server.url, {"Authorization": f"Bearer {pair4['access_token']}"})

        # an admin creates a workspace and rotates its API key
        admin = await connect_client(server.url)
        clients.append(admin)
        admin_pair = await admin.ok("login", {"email": admin_email, "password": secrets["admin password"]})
        created = await admin.ok("create_workspace", {"name": "Shop", "products": ["shop"]})
        workspace, first_key, widget_token = created["workspace"], created["api_key"], created["widget_token"]
        new_key = (await admin.ok("rotate_workspace_key", {"workspace_id": workspace["id"]}))["api_key"]
        agent = await connect_client(server.url)
        clients.append(agent)
        manager = {"user_id": "lm-ana", "positions_in_a_line": 1, "average_serving_time": 3, "ticket_count": 0}
        await agent.ok("create_line_manager", {"workspace_id": workspace["id"], "api_key": new_key, **manager})
        await agent.error(
            "create_line_manager", {"workspace_id": workspace["id"], "api_key": first_key, **manager}, "unauthorized"
        )

        # a widget visitor with the public token, then an upload with the visitor's headers
        visitor = await connect_client(server.url, auth={"widget_token": widget_token})
        clients.append(visitor)
        opened = await visitor.ok("widget_open", {"product": "shop"})
        visitor_secret = opened["visitor_secret"]
        await visitor.ok("widget_send", {"ticket_id": opened["ticket"]["_id"], "message_data": "hello"})
        await upload(server.url, {"X-Widget-Token": widget_token, "X-Visitor-Secret": visitor_secret})
        status, _ = await http_json("POST", f"{server.url}/api/attachments", headers={"X-Visitor-Secret": "vs_nope"})
        assert status >= 400
    finally:
        for client in clients:
            await client.close()
        assert server.stop() == 0
    for pair_ in (pair, pair2, pair3, pair4, admin_pair):
        secrets[f"access token {len(secrets)}"] = pair_["access_token"]
        secrets[f"refresh token {len(secrets)}"] = pair_["refresh_token"]
    secrets.update(
        {
            "reset token": reset_token,
            "first api key": first_key,
            "rotated api key": new_key,
            "widget token": widget_token,
            "visitor secret": visitor_secret,
        }
    )

    log = server.log.read_text()
    leaks = [
        name
        for name, secret in secrets.items()
        if secret in log or (len(secret) > 24 and secret[-16:] in log)  # a long token, even cut
    ]
    assert not leaks, f"secrets in the log: {leaks}"

    lines = log.splitlines()
    assert len(lines) > 20
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line[:200]!r}")
    assert all({"ts", "level", "logger", "msg"} <= set(item) for item in parsed)
    event_lines = [item for item in parsed if item["msg"] == "event handled"]
    for item in event_lines:
        assert set(EVENT_FIELDS) <= set(item), item
    seen = {(item["event"], item["code"]) for item in event_lines}
    assert {("login", "unauthorized"), ("login", "ok"), ("register", "invalid_payload"), ("widget_open", "ok")} <= seen
    assert any(item["user"] != "-" for item in event_lines)
