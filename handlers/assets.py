"""Static browser assets (the widget, the agent console, the socket.io-client bundle): ETag, gzip, versioned URLs.

Each asset is read once at start and served from memory. It has two addresses: a stable one (``/widget.js``)
that browsers revalidate every five minutes with its ETag, and a versioned one (``/assets/widget.<hash>.js``)
that never changes and is cached for a year. A client that accepts gzip gets the compressed bytes.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "widget" / "vendor"
SOCKET_IO_VERSION = "4.8.4"
SOCKET_IO_BUNDLE = VENDOR / f"socket.io-{SOCKET_IO_VERSION}.min.js"
STABLE_CACHE = "public, max-age=300, must-revalidate"
VERSIONED_CACHE = "public, max-age=31536000, immutable"
# Where a page or script names the socket.io-client bundle; replaced by its versioned path when served.
SOCKET_IO_PLACEHOLDER = "__DESKLINE_SOCKET_IO_PATH__"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    """One file's bytes, its gzip form and its content hash."""

    name: str
    body: bytes
    gzipped: bytes
    digest: str
    content_type: str

    @classmethod
    def of(cls, name: str, body: bytes) -> Asset:
        """Prepare ``body`` for serving as ``name`` (its suffix gives the content type)."""
        return cls(
            name=name,
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            digest=hashlib.sha256(body).hexdigest()[:16],
            content_type=CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
        )

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> Asset:
        """Read ``path`` and prepare it for serving under ``name`` (default: the file's name)."""
        return cls.of(name or path.name, path.read_bytes())

    @property
    def etag(self) -> str:
        """The strong ETag of the uncompressed bytes (the gzip form gets a ``-gz`` suffix)."""
        return f'"{self.digest}"'

    @property
    def versioned_path(self) -> str:
        """The URL path that names this exact content: ``/assets/<stem>.<hash><suffix>``."""
        stem, dot, suffix = self.name.rpartition(".")
        return f"/assets/{stem}.{self.digest}{dot}{suffix}" if dot else f"/assets/{self.name}.{self.digest}"

    def respond(self, request: web.Request, cache_control: str) -> web.Response:
        """Answer ``request`` with this asset: 304 when its ETag matches, gzip when the client accepts it."""
        zipped = "gzip" in request.headers.get("Accept-Encoding", "")
        etag = f'"{self.digest}-gz"' if zipped else self.etag
        headers = {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding"}
        if etag in _etags(request.headers.get("If-None-Match", "")):
            return web.Response(status=304, headers=headers)
        if zipped:
            headers["Content-Encoding"] = "gzip"
        response = web.Response(body=self.gzipped if zipped else self.body, headers=headers)
        response.content_type = self.content_type
        if self.content_type.startswith("text/"):
            response.charset = "utf-8"
        return response


SOCKET_IO_KEY = web.AppKey("socket_io_asset", Asset)


def _etags(header: str) -> set[str]:
    """The entity tags an ``If-None-Match`` header lists (weak ones compared as strong)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def add_asset(app: web.Application, stable_path: str | None, asset: Asset) -> None:
    """Serve ``asset`` at its versioned path and, when given, at ``stable_path`` (revalidated with its ETag)."""

    async def versioned(request: web.Request) -> web.Response:
        return asset.respond(request, VERSIONED_CACHE)

    app.router.add_get(asset.versioned_path, versioned)
    if stable_path is not None:

        async def stable(request: web.Request) -> web.Response:
            return asset.respond(request, STABLE_CACHE)

        app.router.add_get(stable_path, stable)


def served_socket_io(app: web.Application) -> Asset:
    """Serve the pinned socket.io-client bundle (``widget/vendor``, refreshed by ``widget/build.sh``) at its
    versioned path, once per app, and return it: the widget and the console both load it."""
    if SOCKET_IO_KEY not in app:
        asset = Asset.load(SOCKET_IO_BUNDLE, "socket.io.min.js")
        add_asset(app, None, asset)
        app[SOCKET_IO_KEY] = asset
    return app[SOCKET_IO_KEY]


def with_socket_io(text: str, socket_io: Asset) -> str:
    """Return a page or script with its socket.io-client placeholder replaced by the bundle's versioned path."""
    return text.replace(SOCKET_IO_PLACEHOLDER, socket_io.versioned_path)
