"""CORS of the HTTP API from a route and a response signal (handlers/cors.py), with no middleware in the app."""

from __future__ import annotations

from typing import Any

import aiohttp

SHOP = "https://shop.example"
PREFLIGHT = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}


async def test_the_app_runs_no_middleware(start_server: Any) -> None:
    srv = await start_server("sqlite", cors_origins=SHOP)
    assert not srv.app.middlewares  # each would hold a frame per open WebSocket for its whole life


async def test_api_preflights_errors_and_other_paths(start_server: Any) -> None:
    srv = await start_server("sqlite", cors_origins=SHOP)
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{srv.url}/api/no/such/path", headers=PREFLIGHT) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == SHOP
            assert resp.headers["Vary"] == "Origin" and resp.headers["Access-Control-Max-Age"] == "600"
        async with http.get(f"{srv.url}/api/no/such/path", headers={"Origin": SHOP}) as resp:
            assert resp.status == 404 and resp.headers["Access-Control-Allow-Origin"] == SHOP
        async with http.options(f"{srv.url}/api/attachments", headers={"Origin": SHOP}) as resp:
            assert resp.status == 405  # a plain OPTIONS is no preflight
        async with http.get(f"{srv.url}/api/turn", headers={"Origin": "https://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.head(f"{srv.url}/api/turn", headers={"Origin": SHOP}) as resp:
            assert resp.status == 401  # HEAD goes where GET goes (here: no credentials)
        async with http.get(f"{srv.url}/api/attachments", headers={"Origin": SHOP}) as resp:
            assert resp.status == 405 and resp.headers["Access-Control-Allow-Origin"] == SHOP  # POST only
        async with http.options(f"{srv.url}/health", headers=PREFLIGHT) as resp:
            assert resp.status == 405 and "Access-Control-Allow-Origin" not in resp.headers


async def test_a_wildcard_allows_any_origin_on_the_api_without_credentials(start_server: Any) -> None:
    srv = await start_server("sqlite", cors_origins="*")
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{srv.url}/api/turn", headers={**PREFLIGHT, "Origin": "https://any.example"}) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == "https://any.example"
            assert "Access-Control-Allow-Credentials" not in resp.headers
