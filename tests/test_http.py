"""The one HTTP error-to-status map, and the workspace pushes declared with their models."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from config import Settings
from handlers.cors import API_PREFIX
from handlers.http import INTERNAL, add_api_route, http_status
from models.attachments import UnsupportedType
from models.errors import (
    Conflict,
    DesklineError,
    Forbidden,
    InvalidPayload,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from models.pushes import ALL_PUSHES
from models.workspaces import WIDGET_TOKEN_REVOKED, WORKSPACE_KEY_REVOKED
from server import create_app
from tests.helpers import RunningServer

ROOT = Path(__file__).resolve().parent.parent


def test_every_error_code_has_one_status() -> None:
    errors = [
        (InvalidPayload("x"), 400),
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (PayloadTooLarge("x"), 413),
        (UnsupportedType("x"), 415),
        (RateLimited("x"), 429),
        (DesklineError("x"), 500),
    ]
    for err, status in errors:
        assert http_status(err) == status, err


def test_revocation_pushes_are_declared_with_the_old_shape() -> None:
    for push in (WORKSPACE_KEY_REVOKED, WIDGET_TOKEN_REVOKED):
        assert ALL_PUSHES[push.name] is push
        assert push.dump({"workspace_id": "w1", "reason": "rotated"}) == {"workspace_id": "w1", "reason": "rotated"}


HANDLERS = ROOT / "handlers"
# Statuses ≥ 400 written outside the map: the CORS preflight refusal and the readiness/health checks (not errors).
NOT_ERRORS = {"handlers/cors.py", "handlers/ready.py", "server.py"}


def literal_error_statuses(module: str, tree: ast.AST) -> list[str]:
    """Return ``module:line`` of each ``status=<4xx/5xx literal>``, ``web.HTTP4xx/5xx`` or ``error_response`` use."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "status":
            if any(isinstance(n, ast.Constant) and isinstance(n.value, int) and n.value >= 400 for n in ast.walk(node)):
                found.append(f"{module}:{node.value.lineno}")
        elif isinstance(node, ast.Attribute) and re.fullmatch(
            r"HTTP(4|5)\d\d\w*|HTTP(Bad|Not|Forbidden|Un)\w*", node.attr
        ):
            found.append(f"{module}:{node.lineno}")
        elif isinstance(node, ast.Name) and node.id == "error_response":
            found.append(f"{module}:{node.lineno}")
    return found


def test_no_route_maps_errors_to_statuses_itself() -> None:
    found = []
    for path in [*sorted(HANDLERS.glob("*.py")), ROOT / "server.py"]:
        module = str(path.relative_to(ROOT))
        if module not in NOT_ERRORS | {"handlers/http.py"}:
            found += literal_error_statuses(module, ast.parse(path.read_text(), module))
    assert not found, "raise the DesklineError; handlers/http.py maps it:\n  " + "\n  ".join(found)


def test_the_status_checker_sees_a_private_map() -> None:
    source = "a = web.Response(status=400)\nraise web.HTTPForbidden()\nreturn error_response(err)\nok(status=201)\n"
    assert literal_error_statuses("m.py", ast.parse(source)) == ["m.py:1", "m.py:2", "m.py:3"]


async def test_http_routes_answer_errors_in_one_shape(server: RunningServer) -> None:
    """TURN, attachments and the reset page take their status from the one map."""
    origin = {"Origin": "https://app.example"}
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "/api/turn"), ("GET", "/api/attachments/nope"), ("POST", "/api/attachments")):
            async with http.request(method, server.url + path, headers=origin) as answer:
                body = await answer.json()
                assert (answer.status, body["ok"], body["error"]["code"]) == (401, False, "unauthorized"), path
                assert answer.headers.get("Access-Control-Allow-Origin") == "https://app.example", path
        async with http.get(server.url + "/reset-password") as page:
            assert page.status == 400 and "no reset token" in await page.text()
        async with http.get(server.url + "/api/no-such-route") as missing:
            assert missing.status == 404  # aiohttp's own answer is left alone


async def test_a_crashing_route_answers_internal_json() -> None:
    """An unexpected exception in an API route is a logged 500 ``internal``, not aiohttp's text page."""

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    async def refuse(request: web.Request) -> web.Response:
        raise Conflict("taken", {"id": "x"})

    app = web.Application()
    add_api_route(app, "GET", "/api/crash", crash)
    add_api_route(app, "GET", "/api/refuse", refuse)
    app.router.add_get("/page", crash)
    async with TestServer(app, host="127.0.0.1") as srv, aiohttp.ClientSession() as http:
        async with http.get(srv.make_url("/api/crash")) as answer:
            assert answer.status == 500
            assert await answer.json() == {
                "ok": False,
                "error": {"code": "internal", "message": INTERNAL, "details": None},
            }
        async with http.get(srv.make_url("/api/refuse")) as answer:
            assert answer.status == 409 and (await answer.json())["error"]["details"] == {"id": "x"}
        async with http.get(srv.make_url("/page")) as answer:
            assert answer.status == 500 and answer.content_type == "text/plain"  # outside /api/: not ours


def test_every_api_route_answers_with_the_error_map() -> None:
    """Each route under /api/ but the CORS catch-all goes through ``api_errors`` (``add_api_route``)."""
    app = create_app(Settings(data_dir=Path("/nonexistent")))
    api = [r for r in app.router.routes() if (r.resource.canonical if r.resource else "").startswith(API_PREFIX)]
    mine = [r for r in api if r.resource.canonical != API_PREFIX + "{tail}"]  # type: ignore[union-attr]
    assert {r.resource.canonical for r in mine} >= {"/api/attachments", "/api/turn"}  # type: ignore[union-attr]
    assert [r.resource.canonical for r in mine if not getattr(r.handler, "api_errors", False)] == []  # type: ignore[union-attr]
