"""The topic's card shows the taxpayer's last intents, and the topic is renamed when its open
case changes: through the staff outbox rows, rate-limited like creation, TOPIC_NOT_MODIFIED
taken as done. Against the local Bot API server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession

from bot.ports import TopicCase, TopicFacts
from bot.topics import StaffTopicSender, TopicManager, TopicRateLimit, render_card, topic_name
from desk.outbox import OutboxItem, RetryLater
from testing.botapi_server import BotAPIServer
from testing.memory import MemoryTopics

STAFF = -100556
DUE = datetime(2026, 12, 3, 10, tzinfo=UTC)


class ChangingTopics(MemoryTopics):
    """A topic store whose facts the test changes."""

    def __init__(self, facts: TopicFacts) -> None:
        super().__init__()
        self.now = facts

    async def facts(self, conversation_id: int) -> TopicFacts:
        return dataclasses.replace(self.now, conversation_id=conversation_id)


@pytest.fixture
async def bot(botapi: BotAPIServer) -> AsyncIterator[Bot]:
    botapi.make_forum(STAFF)
    b = Bot(botapi.token, session=AiohttpSession(api=botapi.api_server()))
    yield b
    await b.session.close()


def card_row(i: int, conversation: int = 1) -> OutboxItem:
    payload = {"conversation_id": conversation}
    return OutboxItem(
        i, "staff_card", payload, "telegram_staff", str(conversation), f"c{i}", 1, None
    )


def test_the_card_shows_the_last_intents_and_the_name_skips_drafts() -> None:
    facts = TopicFacts(
        3,
        "张三",
        None,
        "bot",
        (
            TopicCase("TX-2026-000002", "更正申报", "collecting", None),
            TopicCase("TX-2026-000001", "完税证明", "queued", DUE),
        ),
        intents=("greet", "request_tax_certificate", "some_new_intent"),
    )
    assert "最近意图：问候 → 开具完税证明 → some_new_intent" in render_card(facts)
    assert topic_name(facts) == "张三 · TX-2026-000001"  # a draft is not a case yet
    assert "最近意图" not in render_card(dataclasses.replace(facts, intents=()))


async def test_the_topic_follows_its_open_case(bot: Bot, botapi: BotAPIServer) -> None:
    store = ChangingTopics(TopicFacts(1, "张三", None, "human"))
    manager = TopicManager(bot, STAFF, store, limit=TopicRateLimit(100))
    sender = StaffTopicSender(manager, limit=TopicRateLimit(100))
    thread = await manager.ensure(1)
    assert botapi.live_topics(STAFF)[thread] == "张三"

    # a case opens: the card row renames the topic and shows the intents
    case = TopicCase("TX-2026-000007", "完税证明", "queued", DUE)
    store.now = dataclasses.replace(store.now, cases=(case,), intents=("request_tax_certificate",))
    await sender.send(card_row(1))
    assert botapi.live_topics(STAFF)[thread] == "张三 · TX-2026-000007"
    card = botapi.in_topic(STAFF, thread)[0]
    assert "开具完税证明" in (card.message.get("text") or "")

    # unchanged: no call; a new process (nothing remembered) meets TOPIC_NOT_MODIFIED: fine
    await sender.send(card_row(2))
    assert len(botapi.calls_of("editForumTopic")) == 1
    other = StaffTopicSender(TopicManager(bot, STAFF, store, limit=TopicRateLimit(100)))
    await other.send(card_row(3))
    assert len(botapi.calls_of("editForumTopic")) == 2
    assert botapi.live_topics(STAFF)[thread] == "张三 · TX-2026-000007"

    # the case closes: the name loses its number
    store.now = dataclasses.replace(store.now, cases=())
    await sender.send(card_row(4))
    assert botapi.live_topics(STAFF)[thread] == "张三"


async def test_renames_share_the_topic_limit(bot: Bot, botapi: BotAPIServer) -> None:
    store = ChangingTopics(TopicFacts(1, "李四", None, "human"))
    manager = TopicManager(bot, STAFF, store, limit=TopicRateLimit(2))
    sender = StaffTopicSender(manager, limit=TopicRateLimit(100))
    thread = await manager.ensure(1)  # slot 1
    store.now = dataclasses.replace(
        store.now, cases=(TopicCase("TX-2026-000008", "发票", "queued", None),)
    )
    await sender.send(card_row(1))  # slot 2: renamed
    store.now = dataclasses.replace(store.now, cases=())
    with pytest.raises(RetryLater):  # no slot: the card row waits, nothing is lost
        await sender.send(card_row(2))
    assert botapi.live_topics(STAFF)[thread] == "李四 · TX-2026-000008"
    # after a message that must not be sent twice (the hand-over alert), the rename is
    # left for later instead of making the row wait
    handoff = OutboxItem(
        3, "staff_handoff", {"conversation_id": 1}, "telegram_staff", "1", "h", 1, None
    )
    await sender.send(handoff)
    assert sum("请求人工服务" in (m.text or "") for m in botapi.in_topic(STAFF, thread)) == 1
