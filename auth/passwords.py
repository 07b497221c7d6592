"""Password hashing with argon2id, and the check that refuses passwords too easy to guess."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from config import Settings
from models.errors import InvalidPayload

# zxcvbn's score 3 means about 10^8 guesses or more: safe against online guessing and a slow (argon2)
# offline attack. Below it are common passwords (its 30,000 from leaks), words, names, keyboard walks,
# repeats, sequences and dates, including their capitalised, l33t and suffixed forms.
MIN_SCORE = 3
# zxcvbn's work grows quickly with length (and it refuses over 72 characters); a password whose first
# 40 characters are strong is strong, and 40 keeps the check within a few milliseconds.
ESTIMATED_PREFIX = 40


class Passwords:
    """Hashes and checks passwords off the event loop (argon2 is deliberately slow)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        """Return a hasher with the argon2id parameters of ``settings``."""
        return cls(
            PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        )

    async def hash(self, password: str) -> str:
        """Return an argon2id hash of ``password``."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Return whether ``password`` matches ``password_hash``."""
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def dummy_hash(self) -> str:
        """Return a hash of a random password, made once with the current parameters (for unknown logins)."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(32))
        return self._dummy

    def needs_rehash(self, password_hash: str) -> bool:
        """Return whether ``password_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def guessability_problem(password: str) -> str | None:
    """Return why ``password`` is too easy to guess, or None when it is strong enough."""
    result = zxcvbn(password[:ESTIMATED_PREFIX])
    if result["score"] >= MIN_SCORE:
        return None
    return str(result["feedback"]["warning"] or "Add another word or two. Uncommon words are better.")


def require_hard_to_guess(password: str, field: str = "password") -> None:
    """Raise ``InvalidPayload`` (as a field error on ``field``) when ``password`` is too easy to guess."""
    if problem := guessability_problem(password):
        message = f"Value error, this password is too easy to guess: {problem}"
        raise InvalidPayload("payload is not valid", [{"field": field, "message": message, "type": "value_error"}])
