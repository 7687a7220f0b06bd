"""The staff group's limits (new topics, messages into the group) shared by every process
through Redis: a sliding window in one sorted set, on the real Redis (a key prefix of the
test's own); without Redis each process keeps its own count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession

from bot.topics import RedisRateLimit, TopicManager, TopicRateLimit
from desk.outbox import RetryLater
from testing.botapi_server import BotAPIServer
from testing.memory import MemoryTopics

STAFF = -100557


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_two_processes_share_one_window(redis: Any, key_prefix: str) -> None:
    key = f"{key_prefix}topics"
    one, two = RedisRateLimit(redis, key, 5), RedisRateLimit(redis, key, 5)
    waits = await asyncio.gather(*(limit.wait() for limit in (one, two) * 6))
    assert waits.count(0.0) == 5  # five slots between the two, not five each
    assert all(0 < w <= 60 for w in waits if w)
    assert 0 < await redis.pttl(key) <= 60_000  # the window's key does not outlive it


async def test_a_slot_comes_back_after_the_window(redis: Any, key_prefix: str) -> None:
    limit = RedisRateLimit(redis, f"{key_prefix}messages", 1, window=0.3)
    assert await limit.wait() == 0.0
    again = await limit.wait()
    assert 0 < again <= 0.3
    await asyncio.sleep(again + 0.05)
    assert await limit.wait() == 0.0


async def test_without_redis_the_process_counts_alone(key_prefix: str) -> None:
    from redis.asyncio import Redis

    gone = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    limit = RedisRateLimit(gone, f"{key_prefix}topics", 2)
    try:
        assert [await limit.wait() for _ in range(3)][:2] == [0.0, 0.0]
        assert await limit.wait() > 0
    finally:
        await gone.aclose()
    local = TopicRateLimit(2)
    assert [await local.wait() for _ in range(3)][2] > 0


async def test_topic_managers_of_two_processes_stay_under_the_shared_limit(
    redis: Any, key_prefix: str, botapi: BotAPIServer
) -> None:
    botapi.make_forum(STAFF)
    bots = [Bot(botapi.token, session=AiohttpSession(api=botapi.api_server())) for _ in range(2)]
    try:
        managers = [
            TopicManager(
                b, STAFF, MemoryTopics(), limit=RedisRateLimit(redis, f"{key_prefix}t", 3)
            )
            for b in bots
        ]

        async def ensure(manager: TopicManager, conversation: int) -> int | None:
            try:
                return await manager.ensure(conversation)
            except RetryLater:
                return None

        made = await asyncio.gather(*(ensure(managers[i % 2], 100 + i) for i in range(8)))
        assert sum(t is not None for t in made) == 3
        assert len(botapi.calls_of("createForumTopic")) == 3
    finally:
        for b in bots:
            await b.session.close()
