"""Access JWTs and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from models.errors import Unauthorized
from models.roles import Principal, Role

log = logging.getLogger("deskline.auth")
ALGORITHM = "HS256"


def load_or_create_secret(configured: str | None, data_dir: Path) -> str:
    """Return the configured JWT secret, or one generated once and kept in ``data_dir``."""
    if configured:
        return configured
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    log.warning("event=jwt_secret_generated path=%s hint=set DESKLINE_JWT_SECRET in production", path)
    return secret


def hash_refresh_token(token: str) -> str:
    """Return the stored form of a refresh token (tokens themselves are never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Grant:
    """What a socket's access token allows: until when, and at which session version of its account."""

    version: int
    expires_at: datetime


def new_family_id() -> str:
    """Return the id of a new refresh-token family (one login and every rotation after it)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class TokenIssuer:
    """Signs and checks access tokens; mints refresh tokens."""

    secret: str
    access_ttl: timedelta
    refresh_ttl: timedelta

    def access_token(self, principal: Principal, now: datetime, version: int = 0) -> str:
        """Return a signed access JWT for ``principal`` at session version ``version``."""
        claims = {
            "sub": principal.user_id,
            "role": principal.role.value,
            "name": principal.name,
            "typ": "access",
            "ver": version,
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify_access(self, token: str, now: datetime) -> Principal:
        """Return the principal of a valid access token, else raise ``Unauthorized``."""
        return self.read_access(token, now)[0]

    def read_access(self, token: str, now: datetime) -> tuple[Principal, Grant]:
        """Return the principal and grant (session version, expiry) of a valid access token; else ``Unauthorized``."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                # Times are checked against the injected clock below, not the wall clock.
                options={"verify_exp": False, "verify_iat": False, "require": ["sub", "exp", "role"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid access token") from exc
        if claims.get("typ") != "access":
            raise Unauthorized("invalid access token")
        if int(claims["exp"]) <= now.timestamp():
            raise Unauthorized("access token expired")
        try:
            role = Role(claims["role"])
            version = int(claims.get("ver", 0))  # tokens from before session versions are version 0
        except (ValueError, TypeError) as exc:
            raise Unauthorized("invalid access token") from exc
        principal = Principal(user_id=str(claims["sub"]), role=role, name=str(claims.get("name", "")))
        return principal, Grant(version=version, expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC))

    def new_refresh_token(self, now: datetime) -> tuple[str, str, datetime]:
        """Return a fresh refresh token, its stored hash and its expiry."""
        token = secrets.token_urlsafe(32)
        return token, hash_refresh_token(token), now + self.refresh_ttl
