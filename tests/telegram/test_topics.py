"""bot.topics against the local Bot API server, with an in-memory topic store: one topic per
conversation under concurrency (one process, and two processes racing), a deleted topic
recreated once, the topic limit, the card, the queue digest and caption splitting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramBadRequest

from bot.ports import TopicCase, TopicFacts
from bot.topics import (
    CAPTION_LIMIT,
    StaffTopicSender,
    TopicManager,
    TopicRateLimit,
    _split_caption,
    render_card,
    render_queue,
    topic_name,
)
from desk.outbox import OutboxItem, RetryLater
from testing.botapi_server import BotAPIServer
from testing.memory import MemoryTopics

STAFF = -100555
DUE = datetime(2026, 12, 3, 10, tzinfo=UTC)  # 18:00 in Beijing


@pytest.fixture
async def bot(botapi: BotAPIServer) -> AsyncIterator[Bot]:
    botapi.make_forum(STAFF)
    b = Bot(botapi.token, session=AiohttpSession(api=botapi.api_server()))
    yield b
    await b.session.close()


async def test_one_topic_when_needed_at_once(bot: Bot, botapi: BotAPIServer) -> None:
    store = MemoryTopics()
    manager = TopicManager(bot, STAFF, store)
    threads = await asyncio.gather(*(manager.ensure(1) for _ in range(5)))
    assert len(set(threads)) == 1
    assert len(botapi.calls_of("createForumTopic")) == 1
    assert botapi.live_topics(STAFF) == {threads[0]: "张三 · TX-2026-000007"}
    card = botapi.in_topic(STAFF, threads[0])[0]
    assert (STAFF, card.message_id) in botapi.pinned
    assert "9144********0001" in (card.text or "") and "12月3日 18:00" in (card.text or "")


async def test_two_processes_racing_keep_one_topic(bot: Bot, botapi: BotAPIServer) -> None:
    store = MemoryTopics()  # shared, as the database is
    first, second = TopicManager(bot, STAFF, store), TopicManager(bot, STAFF, store)
    a, b = await asyncio.gather(first.ensure(2), second.ensure(2))
    assert a == b == store.topics[2]
    assert list(botapi.live_topics(STAFF)) == [a]  # the loser deleted its own


async def test_a_deleted_topic_is_recreated_once_never_looped(
    bot: Bot, botapi: BotAPIServer
) -> None:
    store = MemoryTopics()
    manager = TopicManager(bot, STAFF, store)
    old = await manager.ensure(3)
    botapi.delete_topic(STAFF, old)
    sent = await manager.in_topic(
        3, lambda t: bot.send_message(STAFF, "还在吗", message_thread_id=t)
    )
    assert sent.message_thread_id != old and store.topics[3] == sent.message_thread_id

    calls: list[int] = []

    async def always_gone(thread: int) -> None:
        calls.append(thread)
        raise TelegramBadRequest(method=None, message="Bad Request: message thread not found")  # type: ignore[arg-type]

    with pytest.raises(TelegramBadRequest):
        await manager.in_topic(3, always_gone)
    assert len(calls) == 2


async def test_the_topic_limit_asks_to_wait(bot: Bot, botapi: BotAPIServer) -> None:
    manager = TopicManager(bot, STAFF, MemoryTopics(), limit=TopicRateLimit(2))
    await manager.ensure(10)
    await manager.ensure(11)
    with pytest.raises(RetryLater) as info:
        await manager.ensure(12)
    assert 0 < info.value.seconds <= 60
    botapi.limit_topics(per_window=0, retry_after=3)
    manager = TopicManager(bot, STAFF, MemoryTopics())
    with pytest.raises(RetryLater) as info:
        await manager.ensure(13)
    assert info.value.seconds == 3


def test_card_name_queue_and_caption() -> None:
    facts = TopicFacts(4, "李四", None, "bot")
    assert topic_name(facts) == "李四"
    assert "（未提供）" in render_card(facts) and "智能助手接待中" in render_card(facts)
    assert "验证" not in render_card(facts)  # no taxpayer ID: nothing to verify
    assert "9131****12G（未验证）" in render_card(
        TopicFacts(4, "李四", "9131****12G", "bot", verified=False)
    )
    assert "9131****12G（已验证）" in render_card(
        TopicFacts(4, "李四", "9131****12G", "bot", verified=True)
    )
    due = datetime(2026, 12, 3, 10, tzinfo=UTC)
    digest = render_queue(
        [
            (TopicCase("A1", "完税证明", "queued", due), "ok"),
            (TopicCase("A2", "发票", "in_progress", due), "overdue"),
        ]
    )
    assert "已超期（1）" in digest and "待受理（1）" in digest and "12月3日 18:00" in digest
    assert "没有" in render_queue([])
    text = "说明" * 700
    head, rest = _split_caption(text)
    assert len(head) <= CAPTION_LIMIT and head + rest == text and rest


async def test_the_staff_group_message_limit_makes_rows_wait(
    bot: Bot, botapi: BotAPIServer
) -> None:
    from desk.outbox import OutboxItem

    store = MemoryTopics()
    sender = StaffTopicSender(TopicManager(bot, STAFF, store), limit=TopicRateLimit(1))

    def row(i: int) -> OutboxItem:
        return OutboxItem(
            i, "staff_handoff", {"conversation_id": 5}, "telegram_staff", "5", f"k{i}", 1, None
        )

    await sender.send(row(1))
    with pytest.raises(RetryLater):
        await sender.send(row(2))
    alerts = [
        m for m in botapi.in_topic(STAFF, store.topics[5]) if "请求人工服务" in (m.text or "")
    ]
    assert len(alerts) == 1


async def test_the_queue_digest_row_goes_to_general(bot: Bot, botapi: BotAPIServer) -> None:
    from desk.outbox import Undeliverable

    store = MemoryTopics()
    sender = StaffTopicSender(TopicManager(bot, STAFF, store))
    cases = [
        {
            "number": "TX-2026-000009",
            "title": "完税证明",
            "status": "queued",
            "deadline_at": DUE.isoformat(),
            "due": "ok",
        },
        {"number": "TX-2026-000003", "title": "发票", "status": "in_progress", "due": "overdue"},
    ]
    payload = {"day": "2026-12-02", "cases": cases}
    row = OutboxItem(1, "queue_digest", payload, "telegram_staff", "general", "digest:x", 1, None)
    assert await sender.send(row) is None
    [sent] = botapi.sent_messages(STAFF)
    assert sent.message.get("message_thread_id") is None and not store.topics
    text = sent.text or ""
    assert text.startswith("☀️ 早安") and "TX-2026-000009" in text and "12月3日 18:00" in text
    assert "已超期（1）" in text and "待受理（1）" in text
    bad = OutboxItem(2, "queue_digest", {"cases": [{}]}, "telegram_staff", "general", "k", 1, None)
    with pytest.raises(Undeliverable):
        await sender.send(bad)


async def test_an_answer_to_a_staff_question_reaches_the_topic(
    bot: Bot, botapi: BotAPIServer
) -> None:
    store = MemoryTopics()
    sender = StaffTopicSender(TopicManager(bot, STAFF, store))
    payload = {
        "conversation_id": 6,
        "case_number": "TX-2026-000007",
        "text": "用于办理银行贷款",
        "files": 2,
    }
    await sender.send(OutboxItem(1, "staff_answer", payload, "telegram_staff", "6", "a1", 1, None))
    (card, answer) = botapi.in_topic(STAFF, store.topics[6])
    assert card.message_id == store.cards[6]
    lines = (answer.text or "").splitlines()
    assert lines == [
        "💬 纳税人回复了补充询问（案件 TX-2026-000007）：",
        "用于办理银行贷款",
        "📎 另附 2 个文件，已存入案件。",
    ]


async def test_a_complaint_reaches_the_topic_with_its_due_day(
    bot: Bot, botapi: BotAPIServer
) -> None:
    """Issue 9 point 4: a complaint recorded as a follow-up is shown to staff in the topic."""
    store = MemoryTopics()
    sender = StaffTopicSender(TopicManager(bot, STAFF, store))
    payload = {
        "conversation_id": 8,
        "follow_up_id": 12,
        "text": "窗口的人推来推去",
        "due_at": DUE.isoformat(),
        "closed": True,
    }
    await sender.send(
        OutboxItem(1, "staff_complaint", payload, "telegram_staff", "8", "c1", 1, None)
    )
    (_card, alert) = botapi.in_topic(STAFF, store.topics[8])
    text = alert.text or ""
    assert text.startswith("⚠️ 纳税人投诉（回访 #12，须于 12月3日 18:00（北京时间）前答复）")
    assert "非办公时间" in text and "窗口的人推来推去" in text
    assert "follow-up-close" in text


async def test_a_console_reply_is_posted_in_the_topic(bot: Bot, botapi: BotAPIServer) -> None:
    """Issue 10: what staff reply from the web console shows in the conversation's topic
    too, with who wrote it and the files' names."""
    store = MemoryTopics()
    sender = StaffTopicSender(TopicManager(bot, STAFF, store))
    payload = {
        "conversation_id": 9,
        "staff_name": "王芳",
        "text": "请补交承诺书",
        "documents": ["模板.pdf"],
    }
    await sender.send(
        OutboxItem(1, "staff_console_reply", payload, "telegram_staff", "9", "r1", 1, None)
    )
    (_card, posted) = botapi.in_topic(STAFF, store.topics[9])
    assert posted.text == "【工作台】王芳：请补交承诺书\n（附件：模板.pdf）"


async def test_a_web_chat_message_is_posted_in_the_topic(bot: Bot, botapi: BotAPIServer) -> None:
    """Issue 10: while staff hold a web-chat conversation, what the taxpayer writes there
    reaches the topic as text (there is no Telegram message to copy), with the files' names."""
    store = MemoryTopics()
    sender = StaffTopicSender(TopicManager(bot, STAFF, store))
    payload = {"conversation_id": 9, "text": "发票开错了", "files": ["发票.jpg"]}
    await sender.send(
        OutboxItem(1, "staff_relay_text", payload, "telegram_staff", "9", "w1", 1, None)
    )
    (_card, posted) = botapi.in_topic(STAFF, store.topics[9])
    assert posted.text == "【网页】纳税人：发票开错了\n（文件：发票.jpg，请在工作台查看）"
