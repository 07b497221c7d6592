"""Browser assets served by Deskline itself: the pinned socket.io-client bundle and the widget, with ETag and gzip."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDict

from handlers.assets import SOCKET_IO_BUNDLE, SOCKET_IO_VERSION
from tests.browser import node_modules

ROOT = Path(__file__).resolve().parent.parent


async def fetch(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    """GET ``url`` without letting aiohttp decompress, and return status, headers and raw body."""
    async with aiohttp.ClientSession(auto_decompress=False) as http, http.get(url, headers=headers) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


async def versioned_socket_io_path(server: Any) -> str:
    """The socket.io-client path that the served widget script loads."""
    _, _, body = await fetch(f"{server.url}/widget.js", **{"Accept-Encoding": "identity"})
    found = re.search(r'SOCKET_IO_PATH = "([^"]+)"', body.decode())
    assert found, "widget.js names no socket.io-client path"
    return found.group(1)


def test_the_vendored_bundle_is_the_pinned_npm_release() -> None:
    pinned = json.loads((ROOT / "widget" / "package.json").read_text())["dependencies"]["socket.io-client"]
    lock = json.loads((ROOT / "widget" / "package-lock.json").read_text())
    assert pinned == SOCKET_IO_VERSION == lock["packages"]["node_modules/socket.io-client"]["version"]
    npm_copy = node_modules() / "node_modules" / "socket.io-client"
    assert json.loads((npm_copy / "package.json").read_text())["version"] == SOCKET_IO_VERSION
    assert SOCKET_IO_BUNDLE.read_bytes() == (npm_copy / "dist" / "socket.io.min.js").read_bytes()


async def test_the_widget_loads_socket_io_from_deskline_not_a_cdn(server: Any) -> None:
    status, headers, body = await fetch(f"{server.url}/widget.js", **{"Accept-Encoding": "identity"})
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"cdn." not in body and b"DesklineWidget" in body
    path = await versioned_socket_io_path(server)
    assert path.startswith("/assets/socket.io.min.") and path.endswith(".js")
    status, headers, bundle = await fetch(f"{server.url}{path}", **{"Accept-Encoding": "identity"})
    assert status == 200 and bundle == SOCKET_IO_BUNDLE.read_bytes()
    assert "immutable" in headers["Cache-Control"]


async def test_assets_are_gzipped_for_clients_that_accept_it(server: Any) -> None:
    path = await versioned_socket_io_path(server)
    status, headers, body = await fetch(f"{server.url}{path}", **{"Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == SOCKET_IO_BUNDLE.read_bytes()
    assert len(body) < len(SOCKET_IO_BUNDLE.read_bytes()) / 2


async def test_an_unchanged_asset_is_revalidated_with_its_etag(server: Any) -> None:
    for encoding in ("identity", "gzip"):
        status, headers, _ = await fetch(f"{server.url}/widget.js", **{"Accept-Encoding": encoding})
        assert status == 200 and "must-revalidate" in headers["Cache-Control"]
        etag = headers["ETag"]
        again, _, body = await fetch(
            f"{server.url}/widget.js", **{"Accept-Encoding": encoding, "If-None-Match": f'W/"x", {etag}'}
        )
        assert again == 304 and body == b""
        stale, _, _ = await fetch(f"{server.url}/widget.js", **{"Accept-Encoding": encoding, "If-None-Match": '"x"'})
        assert stale == 200


async def test_the_widget_has_a_versioned_address_too(server: Any) -> None:
    _, headers, stable = await fetch(f"{server.url}/widget.js", **{"Accept-Encoding": "identity"})
    digest = headers["ETag"].strip('"')
    status, headers, versioned = await fetch(
        f"{server.url}/assets/widget.{digest}.js", **{"Accept-Encoding": "identity"}
    )
    assert status == 200 and versioned == stable and "immutable" in headers["Cache-Control"]
    missing, _, _ = await fetch(f"{server.url}/assets/widget.0000000000000000.js")
    assert missing == 404
