"""Account recovery: password reset by email, login by an SMS code; neither tells who has an account."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote

from auth.passwords import require_hard_to_guess
from auth.phones import normalize_phone
from config import Settings
from models.accounts import TokenPair, User
from models.errors import Forbidden, InvalidPayload, RateLimited, Unauthorized
from models.notify import Channel, Kind
from notify.templates import render_html, render_text
from services.accounts import AccountService, public
from services.notify import NotifyService
from storage.recovery import RecoveryStore

RESET_TTL = timedelta(minutes=30)
CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
REQUEST_WINDOW = timedelta(hours=1)
REQUESTS_PER_TARGET = 5
REQUESTS_PER_ADDRESS = 20
RESET_SUBJECT = "Reset your Deskline password"
BAD_CODE = "the code is wrong, expired or used up; request a new one"


def token_hash(token: str) -> str:
    """Return the stored form of a reset token (tokens themselves are never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


class RecoveryService:
    """Password reset and phone login over the account service, a ``RecoveryStore`` and the notifier."""

    def __init__(
        self, accounts: AccountService, store: RecoveryStore, notifier: NotifyService, settings: Settings
    ) -> None:
        self.accounts = accounts
        self.store = store
        self.notifier = notifier
        self.settings = settings
        self._code_key = accounts.tokens.secret.encode()

    def phone(self, raw: str) -> str:
        """Return ``raw`` as an E.164 number (local numbers read in the default country)."""
        return normalize_phone(raw, self.accounts.region, strict=False)

    def _code_hash(self, phone: str, code: str) -> str:
        return hmac.new(self._code_key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()

    async def _limit(self, target: str, address: str, now: datetime) -> None:
        """Count a request against its target and the caller's address; ``RateLimited`` past either limit."""
        keys = [(target, REQUESTS_PER_TARGET)] + ([(f"from:{address}", REQUESTS_PER_ADDRESS)] if address else [])
        for key, limit in keys:
            if await self.store.count_requests(key, now - REQUEST_WINDOW) >= limit:
                raise RateLimited(
                    "too many requests; try again later",
                    {"retry_after_seconds": int(REQUEST_WINDOW.total_seconds())},
                )
        for key, _ in keys:
            await self.store.record_request(key, now, now - REQUEST_WINDOW)

    async def request_password_reset(self, email: str, address: str, now: datetime) -> None:
        """Email a single-use reset link if ``email`` belongs to an active account; the same outcome either way."""
        if not self.notifier.is_on(Channel.EMAIL):
            raise Forbidden("password reset by email is not available: this server sends no email")
        await self._limit(f"reset:{email}", address, now)
        user = await self.accounts.store.find_by_contact(email, None)
        if user is None or not user.active or not user.email:
            return
        token = secrets.token_urlsafe(32)
        await self.store.add_reset_token(token_hash(token), user.id, now + RESET_TTL, now)
        values = {
            "name": user.name,
            "link": f"{self.settings.public_base_url.rstrip('/')}/reset-password?token={quote(token)}",
            "minutes": int(RESET_TTL.total_seconds() // 60),
        }
        await self.notifier.email(
            user.email,
            RESET_SUBJECT,
            render_text("password_reset", **values),
            render_html("password_reset", **values),
            kind=Kind.PASSWORD_RESET,
            user_id=user.id,
            sensitive=True,
        )

    async def reset_password(self, token: str, new_password: str, now: datetime) -> User:
        """Spend a reset token and set the new password; ``InvalidPayload`` if the token is unknown, used or expired.

        A password too easy to guess is refused before the token is spent.
        """
        require_hard_to_guess(new_password, "new_password")
        user_id = await self.store.use_reset_token(token_hash(token), now)
        if user_id is None:
            raise InvalidPayload(
                "this reset token is invalid, used or expired",
                [{"field": "token", "message": "invalid, used or expired", "type": "value_error"}],
            )
        user = await self.accounts.store.get_user(user_id)
        await self.accounts.set_password(user, new_password)
        await self.store.drop_reset_tokens(user_id, now)
        return public(user)

    async def request_login_code(self, raw_phone: str, address: str, now: datetime) -> str:
        """Text a 6-digit code if the number belongs to an active account; return the number in E.164."""
        phone = self.phone(raw_phone)
        if not self.notifier.is_on(Channel.SMS):
            raise Forbidden("login by SMS code is not available: this server sends no SMS")
        await self._limit(f"code:{phone}", address, now)
        user = await self.accounts.store.find_by_contact(None, phone)
        if user is None or not user.active:
            return phone
        code = f"{secrets.randbelow(1_000_000):06d}"
        await self.store.put_login_code(phone, user.id, self._code_hash(phone, code), now + CODE_TTL, now)
        text = render_text("login_code", code=code, minutes=int(CODE_TTL.total_seconds() // 60))
        await self.notifier.sms(phone, text, kind=Kind.LOGIN_CODE, user_id=user.id, sensitive=True)
        return phone

    async def login_with_code(self, raw_phone: str, code: str, now: datetime) -> TokenPair:
        """Trade a live code (5 attempts, 10 minutes, single use) for tokens."""
        phone = self.phone(raw_phone)
        user_id = await self.store.use_login_code(phone, self._code_hash(phone, code), now, CODE_ATTEMPTS)
        if user_id is None:
            raise Unauthorized(BAD_CODE)
        user = await self.accounts.store.get_user(user_id)
        if not user.active:
            raise Forbidden("this account is deactivated")
        return await self.accounts.issue(user, now)
