"""Accounts on SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from models.accounts import NewUser, RefreshGrant, User, UserRecord
from models.errors import Conflict, NotFound
from models.logins import LoginCounter, LoginLimit, first_wait, reserved
from models.roles import Role
from storage.database import new_id
from storage.sqlite.accounts_schema import SCHEMA, UPGRADES
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all

_USER_COLUMNS = "id, email, phone, name, role, active, password_hash, created_at"
_SELECT_USER = f"SELECT {_USER_COLUMNS}, session_version FROM users"


def _record(row: Any) -> UserRecord:
    return UserRecord(
        id=row["id"],
        email=row["email"],
        phone=row["phone"],
        name=row["name"],
        role=Role(row["role"]),
        active=bool(row["active"]),
        password_hash=row["password_hash"],
        created_at=from_iso(row["created_at"]),
        session_version=row["session_version"],
    )


def _public(row: Any) -> User:
    return User.model_validate(_record(row).model_dump(exclude={"password_hash"}))


class SqliteAccountStore:
    """Accounts in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the account tables if missing."""
        await self._db.create_schema(SCHEMA)
        async with self._db.transaction() as conn:  # write-locked: two processes do not both add a column
            for table, column, definition in UPGRADES:
                columns = {row["name"] for row in await tx_fetch_all(conn, f"PRAGMA table_info({table})")}
                if column not in columns:  # a file made before session versions and token families
                    await conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            await conn.execute("CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id)")

    async def create_user(self, new: NewUser, now: datetime) -> User:
        """Store a user; ``Conflict`` when the email or phone is taken."""
        user_id = new_id()
        try:
            await self._db.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (user_id, new.email, new.phone, new.name, new.role.value, new.password_hash, iso(now)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict("an account with this email or phone already exists") from exc
        return User(id=user_id, email=new.email, phone=new.phone, name=new.name, role=new.role, created_at=now)

    async def restore_user(self, record: UserRecord) -> bool:
        """Store an exported user as it was (id, hash, session version); False if that id already exists."""
        r = record
        try:
            changed = await self._db.execute(
                f"INSERT INTO users ({_USER_COLUMNS}, session_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (
                    r.id,
                    r.email,
                    r.phone,
                    r.name,
                    r.role.value,
                    int(r.active),
                    r.password_hash,
                    iso(r.created_at),
                    r.session_version,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict("an account with this email or phone already exists", {"user_id": r.id}) from exc
        return changed == 1

    async def get_user(self, user_id: str) -> UserRecord:
        """Return one user; ``NotFound`` if unknown."""
        row = await self._db.fetch_one(f"{_SELECT_USER} WHERE id = ?", (user_id,))
        if row is None:
            raise NotFound("no such user", {"user_id": user_id})
        return _record(row)

    async def find_by_contact(self, email: str | None, phone: str | None) -> UserRecord | None:
        """Return the user with this email (or else phone), if any."""
        column, value = ("email", email) if email else ("phone", phone)
        row = await self._db.fetch_one(f"{_SELECT_USER} WHERE {column} = ?", (value,))
        return _record(row) if row else None

    async def list_users(self, role: Role | None, after: tuple[datetime, str] | None, limit: int) -> list[User]:
        """Return up to ``limit`` users in creation order, after a cursor position."""
        where, params = ["1 = 1"], []
        if role is not None:
            where.append("role = ?")
            params.append(role.value)
        if after is not None:
            where.append("(created_at, id) > (?, ?)")
            params.extend([iso(after[0]), after[1]])
        rows = await self._db.fetch_all(
            f"{_SELECT_USER} WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT ?",
            (*params, limit),
        )
        return [_public(r) for r in rows]

    async def update_user(self, user_id: str, name: str | None, role: Role | None, active: bool | None) -> User:
        """Change the given fields; ``NotFound`` if unknown."""
        changes = {"name": name, "role": role.value if role else None, "active": active}
        sets = {k: v for k, v in changes.items() if v is not None}
        if sets:
            assignments = ", ".join(f"{k} = ?" for k in sets)
            changed = await self._db.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*sets.values(), user_id))
            if not changed:
                raise NotFound("no such user", {"user_id": user_id})
        record = await self.get_user(user_id)
        return User.model_validate(record.model_dump(exclude={"password_hash"}))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        if not await self._db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)):
            raise NotFound("no such user", {"user_id": user_id})

    async def add_refresh_token(
        self, token_hash: str, user_id: str, expires_at: datetime, family_id: str | None = None, version: int = 0
    ) -> None:
        """Remember an issued refresh token of a family (default: a new family of its own) and session version."""
        await self._db.execute(
            "INSERT INTO refresh_tokens (token_hash, user_id, expires_at, family_id, version) VALUES (?, ?, ?, ?, ?)",
            (token_hash, user_id, iso(expires_at), family_id or token_hash, version),
        )

    async def rotate_refresh_token(
        self, old_hash: str, new_hash: str, new_expires_at: datetime, now: datetime
    ) -> RefreshGrant | None:
        """Revoke a live token and store its successor (same family and version) in one transaction."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0 AND expires_at > ?"
                " RETURNING user_id, COALESCE(family_id, token_hash) AS family_id, version",
                (old_hash, iso(now)),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            grant = RefreshGrant(user_id=row["user_id"], family_id=row["family_id"], version=row["version"])
            await conn.execute(
                "INSERT INTO refresh_tokens (token_hash, user_id, expires_at, family_id, version)"
                " VALUES (?, ?, ?, ?, ?)",
                (new_hash, grant.user_id, iso(new_expires_at), grant.family_id, grant.version),
            )
            return grant

    async def revoke_refresh_family(self, token_hash: str) -> str | None:
        """Revoke every token of the family of a known token (reuse); return its user id, None if unknown."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT user_id, COALESCE(family_id, token_hash) AS family_id FROM refresh_tokens WHERE token_hash = ?",
                (token_hash,),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            await conn.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? OR token_hash = ?",
                (row["family_id"], row["family_id"]),
            )
            return str(row["user_id"])

    async def revoke_refresh_token(self, token_hash: str, user_id: str) -> bool:
        """Revoke one of the user's tokens; return whether it was live."""
        changed = await self._db.execute(
            "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ? AND user_id = ? AND revoked = 0",
            (token_hash, user_id),
        )
        return changed == 1

    async def revoke_all_refresh_tokens(self, user_id: str) -> int:
        """Revoke every token of the user; return how many."""
        return await self._db.execute(
            "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0", (user_id,)
        )

    async def end_sessions(self, user_id: str) -> int:
        """Bump the user's session version and revoke every refresh token in one transaction; return how many."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE users SET session_version = session_version + 1 WHERE id = ?", (user_id,)
            )
            if cursor.rowcount != 1:
                raise NotFound("no such user", {"user_id": user_id})
            cursor = await conn.execute(
                "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0", (user_id,)
            )
            return cursor.rowcount

    async def session_version(self, user_id: str) -> int | None:
        """Return the user's session version; None if the user is unknown or deactivated."""
        row = await self._db.fetch_one("SELECT session_version FROM users WHERE id = ? AND active = 1", (user_id,))
        return int(row["session_version"]) if row else None

    async def reserve_login(self, limits: list[LoginLimit], now: datetime) -> int | None:
        """Take one attempt on every limit's counter in one transaction; else return the seconds to wait."""
        keys = [limit.key for limit in limits]
        async with self._db.transaction() as conn:
            rows = await tx_fetch_all(
                conn, f"SELECT {_COUNTER_COLUMNS} FROM login_limits WHERE key IN ({_marks(keys)})", keys
            )
            counters = {row["key"]: _counter(row) for row in rows}
            wait = first_wait(counters, limits, now)
            if wait is not None:
                return wait
            for limit in limits:
                taken = reserved(counters.get(limit.key), limit, now)
                await conn.execute(
                    f"INSERT INTO login_limits ({_COUNTER_COLUMNS}) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE"
                    " SET count = excluded.count, window_start = excluded.window_start, last_at = excluded.last_at",
                    (limit.key, taken.count, iso(taken.window_start), iso(taken.last_at)),
                )
        return None

    async def release_login(self, keys: list[str], reserved_at: datetime) -> None:
        """Give back an attempt reserved at ``reserved_at`` (a good password) on counters still in that window."""
        await self._db.execute(
            f"UPDATE login_limits SET count = count - 1 WHERE key IN ({_marks(keys)}) AND count > 0"
            " AND window_start <= ?",
            (*keys, iso(reserved_at)),
        )

    async def login_counter(self, key: str) -> LoginCounter | None:
        """Return the stored counter of ``key``, if any."""
        row = await self._db.fetch_one(f"SELECT {_COUNTER_COLUMNS} FROM login_limits WHERE key = ?", (key,))
        return _counter(row) if row else None

    async def clear_login_failures(self, key: str) -> None:
        """Forget the attempts counted under ``key``."""
        await self._db.execute("DELETE FROM login_limits WHERE key = ?", (key,))

    async def remember_address(self, user_id: str, address: str, now: datetime) -> None:
        """Record that ``user_id`` signed in from ``address`` (a known-good address from now on)."""
        await self._db.execute(
            "INSERT INTO login_known_addresses (user_id, address, last_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, address) DO UPDATE SET last_at = excluded.last_at",
            (user_id, address, iso(now)),
        )

    async def is_known_address(self, user_id: str, address: str) -> bool:
        """Return whether ``user_id`` has signed in from ``address`` before."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM login_known_addresses WHERE user_id = ? AND address = ?", (user_id, address)
        )
        return row is not None


_COUNTER_COLUMNS = "key, count, window_start, last_at"


def _marks(values: list[str]) -> str:
    return ", ".join("?" for _ in values)


def _counter(row: Any) -> LoginCounter:
    return LoginCounter(int(row["count"]), from_iso(row["window_start"]), from_iso(row["last_at"]))  # type: ignore[arg-type]
