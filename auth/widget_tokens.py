"""Widget credentials: the public per-workspace token, per-visitor secrets and HMAC identity verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets

VISITOR_PREFIX = "vs_"
IDENTITY_PREFIX = "wi_"


def new_identity_secret() -> str:
    """Return a fresh identity-verification secret (kept by the site's back end, never in a page)."""
    return IDENTITY_PREFIX + secrets.token_urlsafe(32)


def new_visitor_secret() -> tuple[str, str]:
    """Return a fresh visitor secret and its stored hash."""
    secret = VISITOR_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def hash_secret(secret: str) -> str:
    """Return the stored form of a random secret (SHA-256; 256 random bits need no salt)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_tag(kind: str, value: str) -> str:
    """Return a short one-way tag of a credential, to name the rooms joined with it."""
    return hashlib.sha256(f"widget-{kind}:{value}".encode()).hexdigest()[:16]


def identifier_hash(identity_secret: str, identifier: str) -> str:
    """Return hex(HMAC-SHA256(identity_secret, identifier)): what the site's back end computes."""
    return hmac.new(identity_secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def identifier_verified(identity_secret: str | None, identifier: str, given_hash: str) -> bool:
    """Return whether ``given_hash`` is the identifier's HMAC under the workspace's (enabled) identity secret."""
    if identity_secret is None:
        return False
    return hmac.compare_digest(identifier_hash(identity_secret, identifier), given_hash.strip().lower())


def same_token(expected: str | None, given: str) -> bool:
    """Compare a widget token in constant time (None never matches)."""
    return expected is not None and hmac.compare_digest(expected.encode(), given.encode())
