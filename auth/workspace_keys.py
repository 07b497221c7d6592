"""Workspace API keys: minted once, stored only as a SHA-256 hash (checked by ``services.workspaces``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "dk_"
HINT_LENGTH = 7
INVALID_API_KEY = "Invalid API key"


def hash_api_key(api_key: str) -> str:
    """Return the stored form of an API key (a SHA-256 of a 256-bit random key needs no salt)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def room_tag(key_hash: str) -> str:
    """Return the tag naming the support rooms joined with one key (a one-way digest of its hash)."""
    return hashlib.sha256(f"support-rooms:{key_hash}".encode()).hexdigest()[:16]


def new_api_key() -> tuple[str, str, str]:
    """Return a fresh API key, its stored hash and its short public hint."""
    key = PREFIX + secrets.token_urlsafe(32)
    return key, hash_api_key(key), key[:HINT_LENGTH]


def key_matches(key_hash: str | None, api_key: str) -> bool:
    """Return whether ``api_key`` is the key stored as ``key_hash`` (None: no such workspace), in constant time."""
    expected = key_hash if key_hash is not None else hash_api_key(PREFIX)
    return hmac.compare_digest(expected, hash_api_key(api_key)) and key_hash is not None
