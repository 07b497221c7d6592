"""TURN use case: time-limited credentials (the TURN REST API scheme) and the ICE server list."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from config import Settings
from models.clock import Clock
from models.errors import NotFound


def split_uris(text: str) -> list[str]:
    """Return the URIs of a comma-separated setting."""
    return [uri.strip() for uri in text.split(",") if uri.strip()]


def turn_credentials(secret: str, user_id: str, now: datetime, ttl_seconds: int) -> tuple[str, str]:
    """Return (username, credential): ``<expiry unix time>:<user>`` and base64(HMAC-SHA1(secret, username))."""
    username = f"{int(now.timestamp()) + ttl_seconds}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class TurnService:
    """Hands out TURN credentials from the ``DESKLINE_TURN_*`` / ``DESKLINE_STUN_URIS`` settings."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def ice_config(self, user_id: str) -> dict[str, Any]:
        """Return the credentials and the RTCIceServer list a browser passes to RTCPeerConnection."""
        settings = self.settings
        uris = split_uris(settings.turn_uris)
        if not settings.turn_secret or not uris:
            raise NotFound("TURN is not configured on this server (set DESKLINE_TURN_SECRET and DESKLINE_TURN_URIS)")
        username, credential = turn_credentials(settings.turn_secret, user_id, self.clock(), settings.turn_ttl_seconds)
        servers: list[dict[str, Any]] = [{"urls": uri} for uri in split_uris(settings.stun_uris)]
        servers.append({"urls": uris, "username": username, "credential": credential})
        return {
            "username": username,
            "credential": credential,
            "ttl": settings.turn_ttl_seconds,
            "uris": uris,
            "ice_servers": servers,
        }
