"""The agent console's page and assets over HTTP: ETag, gzip, versioned URLs, nothing from another origin."""

from __future__ import annotations

import gzip
import re
from typing import Any

from handlers.console import FILES, FOLDER
from tests.test_assets import fetch

ASSET = re.compile(r'(?:src|href)="(/assets/[^"]+)"')
# Any absolute URL or protocol-relative one (a CDN, a font service...): the console must use none.
EXTERNAL = re.compile(rb"""(?:https?:|wss?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}|["'(]\s*(?:https?:|wss?:)?//""")


async def test_the_console_page_names_its_assets_by_versioned_path_and_they_are_served(server: Any) -> None:
    status, headers, body = await fetch(f"{server.url}/agent", **{"Accept-Encoding": "identity"})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "must-revalidate" in headers["Cache-Control"] and headers["ETag"]
    html = body.decode()
    assert "__" not in html, "a placeholder was left in the page"
    paths = ASSET.findall(html)
    assert len(paths) == len(FILES) + 1  # the console's files and the socket.io-client bundle
    assert any(p.startswith("/assets/socket.io.min.") for p in paths)
    for path in paths:
        status, headers, asset = await fetch(f"{server.url}{path}", **{"Accept-Encoding": "identity"})
        assert status == 200 and "immutable" in headers["Cache-Control"], path
        name = path.removeprefix("/assets/")
        source = next((FOLDER / f for f in FILES.values() if name.startswith(f.rsplit(".", 1)[0] + ".")), None)
        if source is not None:
            assert asset == source.read_bytes(), path


async def test_the_console_is_gzipped_and_revalidated_with_its_etag(server: Any) -> None:
    plain = (await fetch(f"{server.url}/agent", **{"Accept-Encoding": "identity"}))[2]
    status, headers, body = await fetch(f"{server.url}/agent", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == plain
    same = {"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]}
    again, _, empty = await fetch(f"{server.url}/agent", **same)
    assert again == 304 and empty == b""
    html = plain.decode()
    for path in ASSET.findall(html):
        status, headers, body = await fetch(f"{server.url}{path}", **{"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip", path
        etag = headers["ETag"]
        revalidated, _, _ = await fetch(f"{server.url}{path}", **{"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert revalidated == 304, path


async def test_nothing_in_the_console_comes_from_or_goes_to_another_origin(server: Any) -> None:
    _, _, page = await fetch(f"{server.url}/agent", **{"Accept-Encoding": "identity"})
    assert b"Content-Security-Policy" in page and b"default-src 'self'" in page
    for path in ASSET.findall(page.decode()):
        if path.startswith("/assets/socket.io.min."):
            continue  # the pinned upstream bundle (tests/test_assets.py checks it is npm's)
        _, _, body = await fetch(f"{server.url}{path}", **{"Accept-Encoding": "identity"})
        assert EXTERNAL.findall(body) == [], path
        assert b"innerHTML" not in body and b"outerHTML" not in body and b"insertAdjacentHTML" not in body, path
        assert b"document.write" not in body and b"eval(" not in body, path
    assert EXTERNAL.findall(page) == []


def test_the_external_url_check_would_catch_one() -> None:
    for bad in (b'<script src="https://cdn.example.com/x.js">', b"fetch('//evil.example.org/k')", b'"wss://a.io/s"'):
        assert EXTERNAL.findall(bad), bad
    assert EXTERNAL.findall(b'<script src="/assets/agent-core.0123456789abcdef.js">') == []
