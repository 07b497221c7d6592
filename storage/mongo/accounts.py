"""Accounts on MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.accounts import NewUser, RefreshGrant, User, UserRecord
from models.errors import Conflict, NotFound
from models.logins import LoginCounter, LoginLimit, first_wait, reserved
from models.roles import Role
from storage.database import new_id
from storage.mongo.db import MongoDatabase

_STRING = {"$type": "string"}
# A counter made ahead of its first reservation: its window has long passed, so it counts as empty.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def _record(doc: dict[str, Any]) -> UserRecord:
    return UserRecord(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


def _public(doc: dict[str, Any]) -> User:
    hidden = ("_id", "password_hash", "session_version")
    return User(id=doc["_id"], **{k: v for k, v in doc.items() if k not in hidden})


class MongoAccountStore:
    """Accounts in MongoDB: unique indexes on email and phone."""

    def __init__(self, db: MongoDatabase) -> None:
        self._users = db.db["users"]
        self._tokens = db.db["refresh_tokens"]
        self._db = db
        self._limits = db.db["login_limits"]
        self._known = db.db["login_known_addresses"]

    async def init(self) -> None:
        """Create the account indexes if missing."""
        await self._users.create_index("email", unique=True, partialFilterExpression={"email": _STRING})
        await self._users.create_index("phone", unique=True, partialFilterExpression={"phone": _STRING})
        await self._users.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])
        await self._tokens.create_index("user_id")
        await self._known.create_index([("user_id", ASCENDING), ("address", ASCENDING)], unique=True)
        await self._tokens.create_index("family_id")

    async def create_user(self, new: NewUser, now: datetime) -> User:
        """Store a user; ``Conflict`` when the email or phone is taken."""
        doc = {"_id": new_id(), **new.model_dump(), "active": True, "created_at": now}
        doc["role"] = new.role.value
        for contact in ("email", "phone"):
            if doc[contact] is None:
                del doc[contact]
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict("an account with this email or phone already exists") from exc
        return _public(doc)

    async def restore_user(self, record: UserRecord) -> bool:
        """Store an exported user as it was (id, hash, session version); False if that id already exists."""
        doc = record.model_dump()
        doc["_id"], doc["role"] = doc.pop("id"), record.role.value
        for contact in ("email", "phone"):
            if doc[contact] is None:
                del doc[contact]
        if await self._users.find_one({"_id": doc["_id"]}, {"_id": 1}):
            return False
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict("an account with this email or phone already exists", {"user_id": record.id}) from exc
        return True

    async def get_user(self, user_id: str) -> UserRecord:
        """Return one user; ``NotFound`` if unknown."""
        doc = await self._users.find_one({"_id": user_id})
        if doc is None:
            raise NotFound("no such user", {"user_id": user_id})
        return _record(doc)

    async def find_by_contact(self, email: str | None, phone: str | None) -> UserRecord | None:
        """Return the user with this email (or else phone), if any."""
        query = {"email": email} if email else {"phone": phone}
        doc = await self._users.find_one(query)
        return _record(doc) if doc else None

    async def list_users(self, role: Role | None, after: tuple[datetime, str] | None, limit: int) -> list[User]:
        """Return up to ``limit`` users in creation order, after a cursor position."""
        query: dict[str, Any] = {}
        if role is not None:
            query["role"] = role.value
        if after is not None:
            stamp, last_id = after
            query["$or"] = [{"created_at": {"$gt": stamp}}, {"created_at": stamp, "_id": {"$gt": last_id}}]
        cursor = self._users.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_public(doc) async for doc in cursor]

    async def update_user(self, user_id: str, name: str | None, role: Role | None, active: bool | None) -> User:
        """Change the given fields; ``NotFound`` if unknown."""
        changes = {"name": name, "role": role.value if role else None, "active": active}
        sets = {k: v for k, v in changes.items() if v is not None}
        if sets:
            doc = await self._users.find_one_and_update(
                {"_id": user_id}, {"$set": sets}, return_document=ReturnDocument.AFTER
            )
        else:
            doc = await self._users.find_one({"_id": user_id})
        if doc is None:
            raise NotFound("no such user", {"user_id": user_id})
        return _public(doc)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        result = await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})
        if result.matched_count == 0:
            raise NotFound("no such user", {"user_id": user_id})

    async def add_refresh_token(
        self, token_hash: str, user_id: str, expires_at: datetime, family_id: str | None = None, version: int = 0
    ) -> None:
        """Remember an issued refresh token of a family (default: a new family of its own) and session version."""
        await self._tokens.insert_one(_token(token_hash, user_id, expires_at, family_id or token_hash, version))

    async def rotate_refresh_token(
        self, old_hash: str, new_hash: str, new_expires_at: datetime, now: datetime
    ) -> RefreshGrant | None:
        """Revoke a live token (a conditional update) and store its successor, in one transaction."""

        async def attempt(session: AsyncClientSession) -> RefreshGrant | None:
            old = await self._tokens.find_one_and_update(
                {"_id": old_hash, "revoked": False, "expires_at": {"$gt": now}},
                {"$set": {"revoked": True}},
                session=session,
            )
            if old is None:
                return None
            grant = RefreshGrant(
                user_id=old["user_id"], family_id=old.get("family_id", old_hash), version=old.get("version", 0)
            )
            doc = _token(new_hash, grant.user_id, new_expires_at, grant.family_id, grant.version)
            await self._tokens.insert_one(doc, session=session)
            return grant

        return await self._db.transaction(attempt)

    async def revoke_refresh_family(self, token_hash: str) -> str | None:
        """Revoke every token of the family of a known token (reuse) in one transaction; return its user id."""

        async def attempt(session: AsyncClientSession) -> str | None:
            known = await self._tokens.find_one({"_id": token_hash}, session=session)
            if known is None:
                return None
            family = known.get("family_id", token_hash)  # tokens from before families are their own family
            await self._tokens.update_many(
                {"$or": [{"family_id": family}, {"_id": family}]}, {"$set": {"revoked": True}}, session=session
            )
            return str(known["user_id"])

        return await self._db.transaction(attempt)

    async def revoke_refresh_token(self, token_hash: str, user_id: str) -> bool:
        """Revoke one of the user's tokens; return whether it was live."""
        result = await self._tokens.update_one(
            {"_id": token_hash, "user_id": user_id, "revoked": False}, {"$set": {"revoked": True}}
        )
        return result.modified_count == 1

    async def revoke_all_refresh_tokens(self, user_id: str) -> int:
        """Revoke every token of the user; return how many."""
        result = await self._tokens.update_many({"user_id": user_id, "revoked": False}, {"$set": {"revoked": True}})
        return result.modified_count

    async def end_sessions(self, user_id: str) -> int:
        """Bump the user's session version, then revoke every refresh token; return how many were revoked.

        The bump comes first: a token rotated in between carries the old version and is refused at refresh.
        """
        bumped = await self._users.update_one({"_id": user_id}, {"$inc": {"session_version": 1}})
        if bumped.matched_count == 0:
            raise NotFound("no such user", {"user_id": user_id})
        return await self.revoke_all_refresh_tokens(user_id)

    async def session_version(self, user_id: str) -> int | None:
        """Return the user's session version; None if the user is unknown or deactivated."""
        doc = await self._users.find_one({"_id": user_id, "active": True}, {"session_version": 1})
        return int(doc.get("session_version", 0)) if doc else None

    async def reserve_login(self, limits: list[LoginLimit], now: datetime) -> int | None:
        """Take one attempt on every limit's counter in one transaction; else return the seconds to wait.

        The counters exist before the transaction, so two concurrent reservations write the same
        documents: one of them hits a write conflict and runs again, seeing the other's attempt.
        """
        keys = [limit.key for limit in limits]
        for key in keys:
            try:
                await self._limits.update_one(
                    {"_id": key}, {"$setOnInsert": {"count": 0, "window_start": _NEVER, "last_at": _NEVER}}, upsert=True
                )
            except DuplicateKeyError:
                pass  # made by a concurrent attempt

        async def attempt(session: AsyncClientSession) -> int | None:
            found = self._limits.find({"_id": {"$in": keys}}, session=session)
            counters = {doc["_id"]: _counter(doc) async for doc in found}
            wait = first_wait(counters, limits, now)
            if wait is not None:
                return wait
            for limit in limits:
                taken = reserved(counters.get(limit.key), limit, now)
                fields = {"count": taken.count, "window_start": taken.window_start, "last_at": taken.last_at}
                await self._limits.update_one({"_id": limit.key}, {"$set": fields}, session=session)
            return None

        return await self._db.transaction(attempt)

    async def release_login(self, keys: list[str], reserved_at: datetime) -> None:
        """Give back an attempt reserved at ``reserved_at`` (a good password) on counters still in that window."""
        await self._limits.update_many(
            {"_id": {"$in": keys}, "count": {"$gt": 0}, "window_start": {"$lte": reserved_at}}, {"$inc": {"count": -1}}
        )

    async def login_counter(self, key: str) -> LoginCounter | None:
        """Return the stored counter of ``key``, if any."""
        doc = await self._limits.find_one({"_id": key})
        return _counter(doc) if doc else None

    async def clear_login_failures(self, key: str) -> None:
        """Forget the attempts counted under ``key``."""
        await self._limits.delete_one({"_id": key})

    async def remember_address(self, user_id: str, address: str, now: datetime) -> None:
        """Record that ``user_id`` signed in from ``address`` (a known-good address from now on)."""
        try:
            await self._known.update_one(
                {"user_id": user_id, "address": address}, {"$set": {"last_at": now}}, upsert=True
            )
        except DuplicateKeyError:
            pass  # a concurrent login recorded it

    async def is_known_address(self, user_id: str, address: str) -> bool:
        """Return whether ``user_id`` has signed in from ``address`` before."""
        return await self._known.find_one({"user_id": user_id, "address": address}, {"_id": 1}) is not None


def _counter(doc: dict[str, Any]) -> LoginCounter:
    return LoginCounter(int(doc["count"]), doc["window_start"], doc["last_at"])


def _token(token_hash: str, user_id: str, expires_at: datetime, family_id: str, version: int) -> dict[str, Any]:
    return {
        "_id": token_hash,
        "user_id": user_id,
        "expires_at": expires_at,
        "revoked": False,
        "family_id": family_id,
        "version": version,
    }
