"""The web application's foundation without a browser: the cookie key, the live feed, the
login throttle's window."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from app.adapters import DeskConversations, DeskInboundStore
from console.auth import BAD_LOGIN, LoginThrottle, MemoryCounter
from console.keys import KEY_FILE, load_secret
from console.live import ChangeFeed, Versions
from desk.runtime import DeskRuntime


def test_the_cookie_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert len(first) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode)
    assert mode == 0o600
    assert load_secret(tmp_path) == first  # a restart keeps the sessions
    assert not [p for p in tmp_path.iterdir() if p.name != KEY_FILE]  # no temp file left


def test_a_configured_key_must_be_a_fernet_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        load_secret(tmp_path, "dG9vIHNob3J0")  # "too short"
    assert not (tmp_path / KEY_FILE).exists()


async def test_the_throttle_locks_a_login_and_lifts_after_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(MemoryCounter(clock=lambda: now[0]), max_failures=3, lockout=60)
    assert await throttle.failed("wang", "10.0.0.1") == BAD_LOGIN
    assert await throttle.failed("wang", "10.0.0.1") == BAD_LOGIN
    assert "已暂时锁定" in await throttle.failed("wang", "10.0.0.1")
    assert "已暂时锁定" in (await throttle.refusal("wang", "10.0.0.2") or "")
    assert await throttle.refusal("li", "10.0.0.2") is None  # another login is not locked
    now[0] += 61
    assert await throttle.refusal("wang", "10.0.0.1") is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_live_feed_wakes_waiters_when_a_message_is_stored(database_url: str) -> None:
    runtime = await asyncio.to_thread(DeskRuntime.create, database_url)
    feed = ChangeFeed(runtime, interval=0.05)
    task = asyncio.create_task(feed.run())
    try:
        start = await feed.read()
        assert start == Versions()
        waiter = asyncio.create_task(feed.wait(start, timeout=10))
        conversations = DeskConversations(runtime)
        store = DeskInboundStore(conversations)
        assert await store.record_message("web", "abc", "abc", "你好")
        await conversations.writes.aclose()
        got = await asyncio.wait_for(waiter, 10)
        assert got.message > start.message
    finally:
        task.cancel()
        await runtime.close()
