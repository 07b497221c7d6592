"""Token buckets in-process and in Redis: the same refill arithmetic; rate settings are validated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from config import Settings
from handlers.rate_limits import LocalBuckets, Rate, RedisBuckets, group_of


@pytest.fixture(params=["local", "redis"])
async def buckets(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Any]:
    """Each bucket backend in turn (Redis under a fresh key prefix)."""
    if request.param == "local":
        yield LocalBuckets()
        return
    redis = Redis.from_url(redis_url)
    yield RedisBuckets(redis, f"test-rl-{uuid.uuid4().hex[:8]}:")
    await redis.aclose()


async def test_burst_then_refusal_then_refill(buckets: Any) -> None:
    rate = Rate(burst=3, seconds=0.6)  # 5 tokens a second
    for _ in range(3):
        assert await buckets.take([("k", rate)]) == 0
    wait = await buckets.take([("k", rate)])
    assert 0 < wait <= 0.2
    await asyncio.sleep(wait + 0.05)
    assert await buckets.take([("k", rate)]) == 0
    assert await buckets.take([("other", rate)]) == 0  # keys are independent


async def test_several_buckets_are_taken_together_or_not_at_all(buckets: Any) -> None:
    small, big = Rate(burst=1, seconds=60), Rate(burst=10, seconds=60)
    assert await buckets.take([("a", small), ("b", big)]) == 0
    assert await buckets.take([("a", small), ("b", big)]) > 0  # a is empty: b keeps its token
    for _ in range(9):
        assert await buckets.take([("b", big)]) == 0
    assert await buckets.take([("b", big)]) > 0


def test_event_groups() -> None:
    assert group_of("callUser") == group_of("call_ice") == group_of("endCall") == "calls"
    assert group_of("login") == group_of("register") == "auth"
    assert group_of("join") == group_of("no_such_event") == "default"


@pytest.mark.parametrize("text", ["10", "10/0", "0/10", "ten/10", "10/10/10", ""])
def test_unreadable_rates_are_refused_at_start(text: str) -> None:
    with pytest.raises(ValidationError):
        Settings(rate_limit_calls=text)


def test_readable_rates() -> None:
    assert Rate.parse(Settings(rate_limit_calls="5/0.5").rate_limit_calls) == Rate(5, 0.5)
    assert Rate.parse("off") is None and Rate.parse(" 7 / 60 ") == Rate(7, 60.0)
