"""The server as a whole: health, help, shutdown, error acks for any input, compression, JS clients."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from models.roles import Role
from tests.browser import JS, PageServer, headless_chromium, node_modules, socket_io_bundle
from tests.conftest import signed_in
from tests.helpers import ROOT, RunningServer, ServerProcess, free_port

CODES = {
    "invalid_payload",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "rate_limited",
    "payload_too_large",
    "internal",
}
GARBAGE: list[Any] = ["text", 12, 1.5, True, [1, 2], {"unknown_field": 1}, {"a": {"b": [None]}}, None]


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_health_reports_backend(any_server: RunningServer, backend: str) -> None:
    status, body = await get_json(f"{any_server.url}/health")
    assert status == 200
    assert body == {"status": "ok", "version": body["version"], "storage": backend, "redis": False}


async def test_storage_failure_gives_503_and_internal_acks_but_server_keeps_serving(server: RunningServer) -> None:
    client = await server.client()
    await server.deps.db.close()
    status, body = await get_json(f"{server.url}/health")
    assert status == 503 and body["status"] == "unavailable"
    message = {"type": "t", "room_id": "r", "message_data": "m", "side": "s", "author": "a", "message_type": "x"}
    ack = await client.call("message_event", message)
    assert ack == {"ok": False, "error": {"code": "internal", "message": "internal server error", "details": None}}
    other = await server.client()
    assert (await other.inbox.wait_for("my_response"))["data"] == "Welcome to Dowell Chat"


async def test_every_event_answers_garbage_with_an_error_ack(start_server: Any) -> None:
    """Anonymous and signed-in sockets send junk to every registered event; each gets an ack, none crashes.

    (One socket sends 8 payloads to each auth and call event, over those groups' default rate limits: they are
    off here, tests/security/test_floods.py covers them.)
    """
    server = await start_server("sqlite", rate_limit_auth="off", rate_limit_calls="off")
    anonymous = await server.client()
    agent, _ = await signed_in(server, Role.AGENT)
    events = server.deps.events
    assert {"register", "login", "join", "message_event"} <= set(events)
    for event, model in sorted(events.items(), key=lambda item: item[0] == "logout"):
        for client in (anonymous, agent):
            for payload in GARBAGE:
                ack = await client.call(event, payload)
                assert isinstance(ack, dict) and "ok" in ack, (event, payload, ack)
                if ack["ok"] is False:
                    assert ack["error"]["code"] in CODES, (event, payload, ack)
                    assert ack["error"]["code"] != "internal", (event, payload, ack)
                elif model is not None:
                    assert payload is None or isinstance(payload, dict), (event, payload, ack)
                    model.model_validate(payload or {})  # only a payload the model accepts may succeed
    assert (await anonymous.call("join", {"room": "still-alive"}))["ok"] is True


async def test_unknown_event_is_ignored_and_the_socket_stays(server: RunningServer) -> None:
    client = await server.client()
    await client.emit("no_such_event", {"x": 1})
    assert (await client.call("join", {"room": "r"}))["ok"] is True


async def test_help_lists_settings() -> None:
    done = subprocess.run([sys.executable, "server.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for name in (
        "DESKLINE_HOST",
        "DESKLINE_PORT",
        "DESKLINE_DATA_DIR",
        "DESKLINE_MONGO_URL",
        "DESKLINE_REDIS_URL",
        "DESKLINE_JWT_SECRET",
        "DESKLINE_CORS_ORIGINS",
        "DESKLINE_MAX_PAYLOAD_BYTES",
        "DESKLINE_LOG_LEVEL",
    ):
        assert name in done.stdout
    assert "create-admin" in done.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc = await ServerProcess({"DESKLINE_DATA_DIR": str(tmp_path)}, free_port()).start()
    from tests.helpers import connect_client

    client = await connect_client(proc.url)
    await client.ok("join", {"room": "bye"})
    assert proc.proc is not None
    proc.proc.send_signal(sig)
    assert await asyncio.to_thread(proc.proc.wait, 20) == 0
    for _ in range(50):
        if not client.sio.connected:
            break
        await asyncio.sleep(0.1)
    assert not client.sio.connected
    log = proc.log.read_text()
    assert "Traceback" not in log, log
    assert "event=stopped" in log
    assert not (tmp_path / "jwt_secret").exists() or (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


async def test_repeated_signals_while_stopping_do_not_cut_the_cleanup_short(tmp_path: Path) -> None:
    """`timeout`, supervisors and impatient operators send SIGTERM more than once (once aborted the cleanup)."""
    proc = await ServerProcess({"DESKLINE_DATA_DIR": str(tmp_path)}, free_port()).start()
    assert proc.proc is not None
    for sig in [signal.SIGTERM, signal.SIGINT] * 40:  # 80 signals over about 0.2 s, during the whole stop
        if proc.proc.poll() is not None:
            break
        proc.proc.send_signal(sig)
        await asyncio.sleep(0.0025)
    assert await asyncio.to_thread(proc.proc.wait, 20) == 0
    log = proc.log.read_text()
    assert "Traceback" not in log, log
    assert log.count("event=stopping") == 1 and "event=stopped" in log


async def test_generated_jwt_secret_is_kept_across_restarts(tmp_path: Path) -> None:
    env = {"DESKLINE_DATA_DIR": str(tmp_path)}
    first = await ServerProcess(env, free_port()).start()
    from tests.helpers import connect_client

    client = await connect_client(first.url)
    tokens = await client.ok("register", {"email": "k@example.com", "name": "K", "password": "correct horse battery"})
    await client.close()
    first.stop()
    second = await ServerProcess(env, free_port()).start()
    try:
        again = await connect_client(second.url, token=tokens["access_token"])
        assert (await again.ok("me"))["email"] == "k@example.com"
        await again.close()
    finally:
        second.stop()


async def ws_extensions(url: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", compress=15) as ws:
            return ws._response.headers.get("Sec-WebSocket-Extensions", "")


async def test_permessage_deflate_is_off_by_default(server: RunningServer) -> None:
    assert await ws_extensions(server.url) == ""


async def test_permessage_deflate_can_be_allowed(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", websocket_compression=True)
    assert "permessage-deflate" in await ws_extensions(srv.url)


async def test_cors_origins_are_enforced(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", cors_origins="https://app.example.com")
    async with aiohttp.ClientSession() as http:
        url = f"{srv.url}/socket.io/?EIO=4&transport=polling"
        async with http.get(url, headers={"Origin": "https://evil.example.com"}) as resp:
            assert resp.status == 400
        async with http.get(url, headers={"Origin": "https://app.example.com"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


async def test_browser_socket_io_client_runs_the_dowell_chat_flow(server: RunningServer) -> None:
    js = await asyncio.to_thread(node_modules)
    node = shutil.which("node")
    assert node
    proc = await asyncio.create_subprocess_exec(
        node,
        "dowell_chat_flow.mjs",
        server.url,
        cwd=js,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen["ok"] is True
    assert seen["transport"] == "websocket"
    assert {"data": "Invalid Data"} in seen["a"]


async def test_a_real_browser_runs_the_dowell_chat_flow_against_python_server_py(tmp_path: Path) -> None:
    files: dict[str, Path | str] = {
        "browser.html": JS / "browser.html",
        "dowell_flow.mjs": JS / "dowell_flow.mjs",
        "socket.io.min.js": await asyncio.to_thread(socket_io_bundle),
    }
    async with PageServer(files) as pages:
        server = ServerProcess(
            {"DESKLINE_DATA_DIR": str(tmp_path / "data"), "DESKLINE_CORS_ORIGINS": pages.origin}, free_port()
        )
        await server.start()
        try:
            async with headless_chromium(f"{pages.origin}/browser.html?server={server.url}", tmp_path / "profile"):
                seen = await pages.next_result()
        finally:
            assert server.stop() == 0
    assert seen["ok"] is True, seen
    assert seen["transport"] == "websocket"
    assert {"data": "Invalid Data"} in seen["a"]
    assert seen["refused"]["data"]["code"] == "unauthorized"


async def test_http_api_answers_cors_preflights_for_allowed_origins(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", cors_origins="https://shop.example")
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-workspace-id, x-api-key",
    }
    async with aiohttp.ClientSession() as http:
        for path in ("/api/attachments", "/api/turn"):
            async with http.options(f"{srv.url}{path}", headers=preflight) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
                allowed = resp.headers["Access-Control-Allow-Headers"].lower()
                assert "x-api-key" in allowed and "authorization" in allowed
        async with http.options(
            f"{srv.url}/api/attachments", headers={**preflight, "Origin": "https://evil.example"}
        ) as resp:
            assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
        async with http.post(f"{srv.url}/api/attachments", headers={"Origin": "https://shop.example"}) as resp:
            assert resp.status == 401  # no credentials: the error still carries CORS so the page can read it
            assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        async with http.get(f"{srv.url}/health", headers={"Origin": "https://shop.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
