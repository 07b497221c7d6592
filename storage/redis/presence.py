"""Presence in Redis, shared by every instance; each change is one atomic Lua script.

Keys under ``<prefix>`` (``deskline:<redis channel>:presence``):
``alive:<instance>`` (expiring heartbeat), ``instances`` (set), ``isockets:<instance>`` (sid -> user),
``usockets:<user>`` (sid -> instance), ``online`` (users announced online), ``roles`` (user -> role),
``away`` (set), ``gsockets:<group>`` (sid -> instance: the sockets of a named group, e.g. the
widget sockets of one token) and ``igroups:<instance>`` (set of "<sid> <group>"). A socket counts
only while its instance's heartbeat key exists, so a crashed instance's users read as offline as
soon as its key expires; ``reap_dead`` then announces it (and drops its group entries).
"""

from __future__ import annotations

from typing import Any

from models.presence import Status
from storage.presence import Gone

_PRELUDE = """
local p = ARGV[1]
local function live(uid)
  local e = redis.call('HGETALL', p .. ':usockets:' .. uid)
  local n = 0
  for i = 2, #e, 2 do
    if redis.call('EXISTS', p .. ':alive:' .. e[i]) == 1 then n = n + 1 end
  end
  return n
end
local function went_offline(uid)
  if live(uid) > 0 then return false end
  if redis.call('SREM', p .. ':online', uid) == 0 then return false end
  local role = redis.call('HGET', p .. ':roles', uid) or ''
  redis.call('HDEL', p .. ':roles', uid)
  redis.call('SREM', p .. ':away', uid)
  return role
end
local function reap(iid)
  redis.call('SREM', p .. ':instances', iid)
  for _, m in ipairs(redis.call('SMEMBERS', p .. ':igroups:' .. iid)) do
    local s, g = string.match(m, '^(%S+) (.*)$')
    redis.call('HDEL', p .. ':gsockets:' .. g, s)
  end
  redis.call('DEL', p .. ':igroups:' .. iid)
  local e = redis.call('HGETALL', p .. ':isockets:' .. iid)
  redis.call('DEL', p .. ':isockets:' .. iid)
  local users, order = {}, {}
  for i = 1, #e, 2 do
    if redis.call('HGET', p .. ':usockets:' .. e[i + 1], e[i]) == iid then
      redis.call('HDEL', p .. ':usockets:' .. e[i + 1], e[i])  -- not a socket recovered on another instance
    end
    if not users[e[i + 1]] then users[e[i + 1]] = true; order[#order + 1] = e[i + 1] end
  end
  local out = {}
  for _, uid in ipairs(order) do
    local role = went_offline(uid)
    if role then out[#out + 1] = uid; out[#out + 1] = role end
  end
  return out
end
"""

_ADD = """
local iid, sid, uid = ARGV[2], ARGV[3], ARGV[4]
redis.call('HSET', p .. ':usockets:' .. uid, sid, iid)
redis.call('HSET', p .. ':isockets:' .. iid, sid, uid)
redis.call('HSET', p .. ':roles', uid, ARGV[5])
return redis.call('SADD', p .. ':online', uid)
"""

_REMOVE = """
local iid, sid, uid = ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', p .. ':usockets:' .. uid, sid) == iid then
  redis.call('HDEL', p .. ':usockets:' .. uid, sid)  -- not when the socket came back on another instance
end
redis.call('HDEL', p .. ':isockets:' .. iid, sid)
if went_offline(uid) then return 1 end
return 0
"""

_JOIN_GROUP = """
local iid, sid, group = ARGV[2], ARGV[3], ARGV[4]
redis.call('HSET', p .. ':gsockets:' .. group, sid, iid)
return redis.call('SADD', p .. ':igroups:' .. iid, sid .. ' ' .. group)
"""

_LEAVE_GROUP = """
local iid, sid, group = ARGV[2], ARGV[3], ARGV[4]
redis.call('HDEL', p .. ':gsockets:' .. group, sid)
return redis.call('SREM', p .. ':igroups:' .. iid, sid .. ' ' .. group)
"""

_GROUP_SOCKETS = """
local e = redis.call('HGETALL', p .. ':gsockets:' .. ARGV[2])
local out = {}
for i = 1, #e, 2 do
  if redis.call('EXISTS', p .. ':alive:' .. e[i + 1]) == 1 then out[#out + 1] = e[i] end
end
return out
"""

_REAP_DEAD = """
local out = {}
for _, iid in ipairs(redis.call('SMEMBERS', p .. ':instances')) do
  if redis.call('EXISTS', p .. ':alive:' .. iid) == 0 then out[#out + 1] = {iid, reap(iid)} end
end
return out
"""

_CLOSE = """
redis.call('DEL', p .. ':alive:' .. ARGV[2])
return reap(ARGV[2])
"""

_STATUSES = """
local out = {}
for i = 2, #ARGV do
  local uid = ARGV[i]
  if live(uid) == 0 then out[#out + 1] = 'offline'
  elseif redis.call('SISMEMBER', p .. ':away', uid) == 1 then out[#out + 1] = 'away'
  else out[#out + 1] = 'online' end
end
return out
"""

_ONLINE = """
local roles = redis.call('HGETALL', p .. ':roles')
local out = {}
for i = 1, #roles, 2 do
  local uid = roles[i]
  if roles[i + 1] == ARGV[2] and live(uid) > 0 and redis.call('SISMEMBER', p .. ':away', uid) == 0 then
    out[#out + 1] = uid
  end
end
return out
"""

_SET_AWAY = """
local uid = ARGV[2]
if live(uid) == 0 then return 0 end
if ARGV[3] == '1' then return redis.call('SADD', p .. ':away', uid) end
return redis.call('SREM', p .. ':away', uid)
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gone(flat: list[Any]) -> list[Gone]:
    return [Gone(_text(flat[i]), _text(flat[i + 1])) for i in range(0, len(flat), 2)]


class RedisPresenceStore:
    """Presence shared through Redis, with an expiring heartbeat per instance."""

    def __init__(self, redis: Any, prefix: str, instance_id: str, ttl_seconds: float) -> None:
        self.instance_id = instance_id
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        scripts = {
            "add": _ADD,
            "remove": _REMOVE,
            "reap_dead": _REAP_DEAD,
            "close": _CLOSE,
            "statuses": _STATUSES,
            "online": _ONLINE,
            "set_away": _SET_AWAY,
            "join_group": _JOIN_GROUP,
            "leave_group": _LEAVE_GROUP,
            "group_sockets": _GROUP_SOCKETS,
        }
        self._scripts = {name: redis.register_script(_PRELUDE + body) for name, body in scripts.items()}

    async def _run(self, name: str, *args: str) -> Any:
        return await self._scripts[name](keys=[], args=[self._prefix, *args])

    async def heartbeat(self) -> bool:
        """Refresh this instance's expiring key; True when it (re)joined the instance set."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self._prefix}:alive:{self.instance_id}", "1", px=self._ttl_ms)
            pipe.sadd(f"{self._prefix}:instances", self.instance_id)
            _, added = await pipe.execute()
        return bool(added)

    async def add_socket(self, sid: str, user_id: str, role: str) -> bool:
        """Record a socket of this instance; True if the user just came online."""
        return bool(await self._run("add", self.instance_id, sid, user_id, role))

    async def remove_socket(self, sid: str, user_id: str) -> bool:
        """Forget a socket of this instance; True if the user just went offline."""
        return bool(await self._run("remove", self.instance_id, sid, user_id))

    async def sockets(self, user_id: str) -> list[str]:
        """Return the ids of the user's sockets, on every instance."""
        return sorted(_text(sid) for sid in await self._redis.hkeys(f"{self._prefix}:usockets:{user_id}"))

    async def join_group(self, sid: str, group: str) -> None:
        """Record a socket of this instance as a member of ``group`` (independent of its user)."""
        await self._run("join_group", self.instance_id, sid, group)

    async def leave_group(self, sid: str, group: str) -> None:
        """Forget a socket of this instance as a member of ``group``."""
        await self._run("leave_group", self.instance_id, sid, group)

    async def group_sockets(self, group: str) -> list[str]:
        """Return the ids of the sockets in ``group`` on live instances."""
        return sorted(_text(sid) for sid in await self._run("group_sockets", group))

    async def set_away(self, user_id: str, away: bool) -> bool:
        """Mark an online user away or back; True if that changed anything."""
        return bool(await self._run("set_away", user_id, "1" if away else "0"))

    async def statuses(self, user_ids: list[str]) -> dict[str, Status]:
        """Return each user's status, counting only sockets of live instances."""
        if not user_ids:
            return {}
        found = await self._run("statuses", *user_ids)
        return {uid: Status(_text(s)) for uid, s in zip(user_ids, found, strict=True)}

    async def online(self, role: str) -> list[str]:
        """Return the users of ``role`` online on a live instance and not away."""
        return [_text(uid) for uid in await self._run("online", role)]

    async def reap_dead(self) -> list[tuple[str, list[Gone]]]:
        """Remove the sockets of instances whose heartbeat expired; return who went offline."""
        return [(_text(iid), _gone(flat)) for iid, flat in await self._run("reap_dead")]

    async def close(self) -> list[Gone]:
        """Remove this instance and its sockets; return who went offline."""
        return _gone(await self._run("close", self.instance_id))
