"""Password hashing with argon2id, and the list of passwords too common to accept."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from config import Settings

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"


class Passwords:
    """Hashes and checks passwords off the event loop (argon2 is deliberately slow)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

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

    def needs_rehash(self, password_hash: str) -> bool:
        """Return whether ``password_hash`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of the 1,000 most common passwords, lower case (read once, on first use)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Return whether ``password`` (ignoring case and surrounding spaces) is one of the most common ones."""
    return password.strip().lower() in common_passwords()
