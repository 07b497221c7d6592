"""Account use cases: registration, login with a failure limit, refresh, logout, admin edits."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from auth.login_limits import account_key, known_key, login_limits
from auth.passwords import Passwords, require_hard_to_guess
from auth.phones import normalize_phone
from auth.tokens import Grant, TokenIssuer, hash_refresh_token, new_family_id
from models.accounts import NewUser, TokenPair, User, UserRecord
from models.errors import Forbidden, NotFound, RateLimited, Unauthorized
from models.roles import Principal, Role
from storage.accounts import AccountStore
from storage.cursor import decode_cursor, encode_cursor

BAD_LOGIN = "wrong email, phone or password"
BAD_REFRESH = "refresh token is invalid, expired or revoked"
TOKEN_EXPIRED = "your access token expired: send refresh_token, or reconnect with a new access token"
SESSION_ENDED = "this session was ended (logout everywhere, password change or an administrator): sign in again"

log = logging.getLogger("deskline.auth")


class AccountService:
    """Everything the account events do, over an ``AccountStore``."""

    def __init__(
        self,
        store: AccountStore,
        passwords: Passwords,
        tokens: TokenIssuer,
        max_failures: int,
        failure_window: timedelta,
        *,
        region: str | None = None,
    ) -> None:
        self.store = store
        self.region = region  # ISO country of local phone numbers (DESKLINE_DEFAULT_COUNTRY)
        self.passwords = passwords
        self.tokens = tokens
        self.max_failures = max_failures
        self.failure_window = failure_window

    async def create(
        self, email: str | None, phone: str | None, name: str, password: str, role: Role, now: datetime
    ) -> User:
        """Create an account (phone in E.164 or local form); ``Conflict`` if the email or phone is taken.

        ``InvalidPayload`` (a field error on ``password``) when the password is too easy to guess.
        """
        require_hard_to_guess(password)
        phone = self.phone(phone, strict=True)
        new = NewUser(email=email, phone=phone, name=name, role=role, password_hash=await self.passwords.hash(password))
        return await self.store.create_user(new, now)

    async def user(self, user_id: str) -> User:
        """Return the account ``user_id`` (without its password hash); ``NotFound`` if there is none."""
        return public(await self.store.get_user(user_id))

    async def page_of_users(self, role: Role | None, cursor: str | None, limit: int) -> dict[str, Any]:
        """Return ``{users, next_cursor}``: up to ``limit`` accounts (of ``role``) after ``cursor``, oldest first."""
        after = decode_cursor(cursor) if cursor else None
        users = await self.store.list_users(role, after, limit)
        following = encode_cursor(users[-1].created_at, users[-1].id) if len(users) == limit else None
        return {"users": users, "next_cursor": following}

    async def update(self, user_id: str, name: str | None, role: Role | None, active: bool | None) -> User:
        """Change an account's name, role or active flag (an administrator's edit); ``NotFound`` if none."""
        return await self.store.update_user(user_id, name, role, active)

    def phone(self, raw: str | None, *, strict: bool = False) -> str | None:
        """Return ``raw`` in E.164, local numbers read in the default country; ``InvalidPayload`` if it is none.

        ``strict`` (a new account's number) asks whether the number exists; a lookup only needs a possible one.
        """
        return normalize_phone(raw, self.region, strict=strict) if raw else None

    async def issue(self, user: User, now: datetime) -> TokenPair:
        """Return a fresh access and refresh token (a new family) for ``user`` at its current session version."""
        version = user.session_version if isinstance(user, UserRecord) else await self._version(user.id)
        token, token_hash, expires = self.tokens.new_refresh_token(now)
        await self.store.add_refresh_token(token_hash, user.id, expires, new_family_id(), version)
        return self._pair(user, token, version, now)

    def _pair(self, user: User, refresh_token: str, version: int, now: datetime) -> TokenPair:
        return TokenPair(
            access_token=self.tokens.access_token(principal_of(user), now, version),
            refresh_token=refresh_token,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
            user=public(user),
        )

    async def _version(self, user_id: str) -> int:
        return (await self.store.get_user(user_id)).session_version

    async def login(
        self, email: str | None, phone: str | None, password: str, address: str, now: datetime
    ) -> TokenPair:
        """Check credentials (phone in E.164 or local form) under the login limits and return tokens.

        The attempt is reserved on its counters before the (slow) hash is verified, so concurrent
        guesses cannot all pass the check; a good password gives it back. An unknown contact is
        verified against a dummy hash, so it takes as long as a known one.
        """
        phone = self.phone(phone)
        contact = str(email or phone)
        user = await self.store.find_by_contact(email, phone)
        known = bool(address) and await self.store.is_known_address(user.id if user else "", address)
        limits = login_limits(
            contact, user.id if user else None, address, known, self.max_failures, self.failure_window
        )
        wait = await self.store.reserve_login(limits, now)
        if wait is not None:
            raise RateLimited("too many failed logins; try again later", {"retry_after_seconds": wait})
        password_hash = user.password_hash if user else await self.passwords.dummy_hash()
        if not await self.passwords.verify(password_hash, password) or user is None:
            raise Unauthorized(BAD_LOGIN)
        await self.store.release_login([limit.key for limit in limits], now)
        if not user.active:
            raise Forbidden("this account is deactivated")
        if address:  # from now on a known-good address, whose typos so far are forgiven
            await self.store.remember_address(user.id, address, now)
            await self.store.clear_login_failures(known_key(user.id, address))
        if self.passwords.needs_rehash(user.password_hash):
            await self.store.set_password_hash(user.id, await self.passwords.hash(password))
        return await self.issue(user, now)

    async def set_password(self, user: User, password: str) -> None:
        """Store a new password for ``user`` and forget its failed logins (its sessions are ended by the caller)."""
        await self.store.set_password_hash(user.id, await self.passwords.hash(password))
        for contact in (user.email, user.phone):
            if contact:
                await self.store.clear_login_failures(account_key(contact))

    async def refresh(self, refresh_token: str, now: datetime) -> TokenPair:
        """Trade a live refresh token for a new pair of its family; a used one revokes the whole family."""
        token, token_hash, expires = self.tokens.new_refresh_token(now)
        old_hash = hash_refresh_token(refresh_token)
        grant = await self.store.rotate_refresh_token(old_hash, token_hash, expires, now)
        if grant is None:
            owner = await self.store.revoke_refresh_family(old_hash)
            if owner is not None:  # a rotated (or revoked) token came back: someone holds a copy
                log.warning("event=refresh_token_reuse user=%s code=unauthorized action=family_revoked", owner)
            raise Unauthorized(BAD_REFRESH)
        user = await self.store.get_user(grant.user_id)
        if not user.active:
            await self.store.revoke_all_refresh_tokens(user.id)
            raise Forbidden("this account is deactivated")
        if grant.version != user.session_version:  # issued before the user's sessions were ended
            await self.store.revoke_refresh_family(token_hash)
            raise Unauthorized(BAD_REFRESH)
        return self._pair(user, token, grant.version, now)

    async def logout(self, user_id: str, refresh_token: str | None) -> int:
        """Revoke one of the user's refresh tokens; return how many were revoked (0 or 1)."""
        if refresh_token:
            return int(await self.store.revoke_refresh_token(hash_refresh_token(refresh_token), user_id))
        return 0

    async def end_sessions(self, user_id: str) -> int:
        """Refuse every token issued so far (new session version) and revoke the refresh tokens; return how many."""
        return await self.store.end_sessions(user_id)

    def session_of(self, pair: TokenPair, now: datetime) -> tuple[Principal, Grant]:
        """Return the principal and grant a socket signed in with ``pair`` carries."""
        return self.tokens.read_access(pair.access_token, now)

    async def current_principal(self, token: str, now: datetime) -> Principal:
        """Return the principal of an access token whose account still exists, is active and has not ended it."""
        return (await self.current_session(token, now))[0]

    async def current_session(self, token: str, now: datetime) -> tuple[Principal, Grant]:
        """Return the principal and grant of a live access token; ``Unauthorized`` if expired, ended or inactive."""
        claimed, grant = self.tokens.read_access(token, now)
        try:
            user = await self.store.get_user(claimed.user_id)
        except NotFound as exc:
            raise Unauthorized("the account of this token no longer exists") from exc
        if not user.active:
            raise Unauthorized("this account is deactivated")
        if grant.version != user.session_version:
            raise Unauthorized(SESSION_ENDED, {"reason": "session_ended"})
        return principal_of(user), grant

    def check_expiry(self, grant: Grant, now: datetime) -> None:
        """Raise ``Unauthorized`` (``details.reason = "token_expired"``) once the grant's token has expired."""
        if grant.expires_at <= now:
            raise Unauthorized(TOKEN_EXPIRED, {"reason": "token_expired"})

    async def check_version(self, user_id: str, grant: Grant) -> None:
        """Raise ``Unauthorized`` (``details.reason = "session_ended"``) if the user's sessions were ended since."""
        if await self.store.session_version(user_id) != grant.version:
            raise Unauthorized(SESSION_ENDED, {"reason": "session_ended"})


def principal_of(user: User) -> Principal:
    """Return the principal a socket of ``user`` carries."""
    return Principal(user_id=user.id, role=user.role, name=user.name)


def public(user: User | UserRecord) -> User:
    """Return ``user`` without its password hash."""
    return User.model_validate(user.model_dump(exclude={"password_hash"}))
