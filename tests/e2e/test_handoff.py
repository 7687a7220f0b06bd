"""End to end (issue 8, the dialogue side of the hand-over): the real bot against the local
Bot API server, the real dialogue and the desk (SQLite and PostgreSQL). Without
`STAFF_CHAT_ID`, 转人工 gets the honest reply (staff answer within office hours; no promised
transfer); the bot stays quiet while the conversation is human; after the idle time the
sweep beside the outbox worker gives it back and the notice reaches the taxpayer; then the
bot answers again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.container import Container as Services
from app.runners import run_telegram
from bot.sender import RateLimiter
from desk.models import Conversation, Outbox
from testing.app import MakeContainer, bot_settings
from testing.botapi_server import BotAPIServer
from testing.dialogue import FakeInterpreter, parse
from testing.waits import wait_for

CHAT = 7801
IDLE_MINUTES = 0.05  # 3 s: the sweep runs every 0.75 s


@pytest.fixture
async def running(
    tmp_path: Path, database_url: str, botapi: BotAPIServer, make_container: MakeContainer
) -> AsyncIterator[tuple[BotAPIServer, Services]]:
    settings = bot_settings(
        botapi,
        database_url=database_url,
        data_dir=tmp_path / "var",
        staff_chat_id=None,
        handoff_idle_minutes=IDLE_MINUTES,
    )
    services = await make_container(
        settings, interpreter=FakeInterpreter({"你好": parse("greet")})
    )
    services.typing_delay = 0.05
    services.limiter = RateLimiter(chat_rate=50, chat_burst=50)
    services.outbox_poll_interval = 0.05
    stop = asyncio.Event()
    task = asyncio.create_task(run_telegram(services, stop))
    try:
        yield botapi, services
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def _state(services: Services) -> tuple[str, list[tuple[str, str]]]:
    assert services.runtime is not None
    async with services.runtime.sessions() as s:
        state = await s.scalar(select(Conversation.state).where(Conversation.chat_id == str(CHAT)))
        rows = (await s.execute(select(Outbox.kind, Outbox.status))).all()
    return str(state), [(k, st) for k, st in rows]


async def test_honest_handoff_then_idle_timeout_back_to_the_bot(
    running: tuple[BotAPIServer, Services],
) -> None:
    server, services = running
    assert services.runtime is not None
    hours = services.runtime.hours()
    closed_before = not hours.is_open(datetime.now(UTC))
    server.user_sends_text(CHAT, "转人工")
    (reply,) = await server.wait_for_messages(CHAT, 1, timeout=15)
    closed_after = not hours.is_open(datetime.now(UTC))
    text = reply.text or ""
    assert "已记录您的人工服务请求" in text and hours.describe() in text
    assert "消息都会保留" in text
    assert "转接" not in text and "请稍候" not in text  # no transfer promised
    if closed_before and closed_after:  # (the office did not open or close meanwhile)
        assert "非办公时间" in text
    elif not closed_before and not closed_after:
        assert "非办公时间" not in text
    assert (await _state(services))[0] == "human"

    server.user_sends_text(CHAT, "还在吗？")  # stored; the bot stays quiet
    sent = await server.wait_for_messages(CHAT, 2, timeout=30)
    notice = sent[1].text or ""
    assert notice.startswith("人工服务已结束") and "转人工" in notice
    state, rows = await wait_for(
        lambda: _sent_notice(services), timeout=10, message="the notice is marked sent"
    )
    assert state == "bot" and ("conversation_back_to_bot", "sent") in rows

    server.user_sends_text(CHAT, "你好")  # the bot answers again
    sent = await server.wait_for_messages(CHAT, 3, timeout=15)
    assert "您好" in (sent[2].text or "")


async def _sent_notice(services: Services) -> tuple[str, list[tuple[str, str]]] | None:
    state, rows = await _state(services)
    return (state, rows) if ("conversation_back_to_bot", "sent") in rows else None
