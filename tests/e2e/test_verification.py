"""End to end through the local Bot API server (SQLite and PostgreSQL): a stranger who knows
a company's case number cannot rate it by typing the payload; "验证" offers Telegram's contact
button; someone else's contact card and an unregistered number are refused with a reason; the
sender's own registered number verifies the chat, the keyboard goes away, and status then shows
the company's cases. Contact messages are stored like any inbound message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.container import Container as Services
from app.runners import run_telegram
from bot.sender import RateLimiter
from desk.models import Message, Rating
from testing.app import MakeContainer, bot_settings
from testing.botapi_server import BotAPIServer
from testing.dialogue import FakeInterpreter

STRANGER = 7901
OWNER = 7902
COMPANY = "91310115MA1K3YJ12G"


@pytest.fixture
async def running(
    tmp_path: Path, database_url: str, botapi: BotAPIServer, make_container: MakeContainer
) -> AsyncIterator[tuple[BotAPIServer, Services]]:
    settings = bot_settings(
        botapi, database_url=database_url, data_dir=tmp_path / "var", staff_chat_id=None
    )
    services = await make_container(settings, interpreter=FakeInterpreter({}))
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


async def _company_case(services: Services) -> str:
    """The company's own chat had a certificate case done; its handler's phone is on file."""
    assert services.runtime is not None
    async with services.runtime.sessions() as s:
        desk = services.runtime.desk(s)
        conv = await desk.ensure_conversation("telegram", str(OWNER), str(OWNER))
        case = await desk.open_and_submit(
            "tax_certificate",
            taxpayer_id=conv.taxpayer_id,
            conversation_id=conv.id,
            slots={"taxpayer_id": COMPANY, "tax_period": "2025"},
            notify=False,
        )
        staff = await desk.add_staff("王芳")
        await desk.claim(case.number, staff.id)
        await desk.complete(case.number, staff.id, "已开具")
        await desk.add_handler(COMPANY, "138 0013 8000", "李会计")
        return case.number


async def _count(services: Services, q) -> int:  # type: ignore[no-untyped-def]
    assert services.runtime is not None
    async with services.runtime.sessions() as s:
        return int(await s.scalar(q) or 0)


async def test_contact_button_verifies_only_the_senders_own_registered_number(
    running: tuple[BotAPIServer, Services],
) -> None:
    server, services = running
    number = await _company_case(services)
    n = 0

    async def reply_to(push) -> str:  # type: ignore[no-untyped-def]
        nonlocal n
        push()
        n += 1
        sent = await server.wait_for_messages(STRANGER, n, timeout=15)
        return sent[n - 1].text or ""

    # a typed rating payload for the company's case: refused, nothing recorded
    payload = "/rate" + json.dumps({"case": number, "level": "very_dissatisfied"})
    text = await reply_to(lambda: server.user_sends_text(STRANGER, payload))
    assert "没有找到您可以查看的事项" in text
    assert await _count(services, select(func.count()).select_from(Rating)) == 0
    text = await reply_to(lambda: server.user_sends_text(STRANGER, "/status"))
    assert number not in text

    text = await reply_to(lambda: server.user_sends_text(STRANGER, "验证"))
    assert "分享" in text and "验证码" in text
    (row,) = server.reply_keyboards[STRANGER]["keyboard"]
    assert row[0]["request_contact"] is True

    text = await reply_to(
        lambda: server.user_sends_contact(STRANGER, "+8613800138000", own=False, contact_user_id=5)
    )
    assert "只能用您本人的手机号" in text
    text = await reply_to(lambda: server.user_sends_contact(STRANGER, "8613900139000"))
    assert "139****9000" in text and "不在任何单位的办税人员名单中" in text
    assert STRANGER in server.reply_keyboards  # still offered

    text = await reply_to(lambda: server.user_sends_contact(STRANGER, "8613800138000"))
    assert "验证成功" in text and "9131****12G" in text and COMPANY not in text
    assert STRANGER not in server.reply_keyboards  # the contact keyboard is taken away

    stored = await _count(
        services,
        select(func.count())
        .select_from(Message)
        .where(Message.chat_id == str(STRANGER), Message.text.like("[联系人 %")),
    )
    assert stored == 3
    assert (
        await _count(
            services,
            select(func.count()).select_from(Message).where(Message.text.like("%13800138000%")),
        )
        == 0
    )

    text = await reply_to(lambda: server.user_sends_text(STRANGER, payload))
    assert "很抱歉" in text  # the rating is now the verified handler's to give
    assert await _count(services, select(func.count()).select_from(Rating)) == 1
