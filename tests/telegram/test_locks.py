"""The per-key locks of the staff side do not pile up: one per topic or conversation while
it has work in hand, none afterwards; order within a key is kept."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Dispatcher
from aiogram.types import Update

from actions.locks import KeyedLocks
from bot.ports import StaffIdentity, TopicCase
from handlers.staff import build_router
from testing.mocked_bot import MockedBot

STAFF = -100999


async def test_keyed_locks_keep_order_and_are_dropped() -> None:
    locks = KeyedLocks()
    seen: list[tuple[int, int]] = []

    async def work(key: int, n: int) -> None:
        async with locks.hold(key):
            await asyncio.sleep(0.001 * (5 - n))  # later calls would finish first if unordered
            seen.append((key, n))

    await asyncio.gather(*(work(k, n) for n in range(5) for k in range(100)))
    assert len(locks) == 0
    for k in range(100):
        assert [n for key, n in seen if key == k] == [0, 1, 2, 3, 4]


async def test_a_failing_holder_releases_and_drops_its_lock() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold("a"):
        assert len(locks) == 1


class QuietStaffDesk:
    """`bot.ports.StaffDesk` that knows one officer and remembers the relayed messages."""

    def __init__(self) -> None:
        self.relayed: list[tuple[int, int]] = []

    async def staff_member(self, telegram_user_id: int) -> StaffIdentity | None:
        return StaffIdentity(1, "王科员", "staff")

    async def conversation_of_topic(self, staff_chat_id: int, thread_id: int) -> int | None:
        await asyncio.sleep(0)
        return thread_id

    async def relay_to_taxpayer(self, conversation_id: int, *args: Any, **kw: Any) -> bool:
        await asyncio.sleep(0)
        self.relayed.append((conversation_id, args[1]))
        return False

    async def queue(self) -> list[tuple[TopicCase, str | None]]:
        return []


def _topic_message(thread: int, message_id: int) -> Update:
    return Update.model_validate(
        {
            "update_id": message_id,
            "message": {
                "message_id": message_id,
                "message_thread_id": thread,
                "is_topic_message": True,
                "date": 0,
                "chat": {"id": STAFF, "type": "supergroup", "title": "staff", "is_forum": True},
                "from": {"id": 5001, "is_bot": False, "first_name": "王"},
                "text": f"message {message_id}",
            },
        }
    )


async def test_the_staff_router_keeps_no_lock_per_topic_it_has_seen() -> None:
    locks = KeyedLocks()
    dp = Dispatcher()
    dp.include_router(build_router(STAFF, locks=locks))
    desk = QuietStaffDesk()
    bot = MockedBot()
    updates = [
        _topic_message(thread, 1000 * thread + i) for thread in range(1, 51) for i in range(3)
    ]
    await asyncio.gather(*(dp.feed_update(bot, u, staff_desk=desk) for u in updates))
    assert len(desk.relayed) == 150
    for thread in range(1, 51):  # each topic's messages in the order they came
        assert [m for t, m in desk.relayed if t == thread] == [1000 * thread + i for i in range(3)]
    assert len(locks) == 0


async def test_topic_manager_keeps_no_lock_per_conversation(botapi: Any) -> None:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

    from bot.topics import TopicManager, TopicRateLimit
    from testing.memory import MemoryTopics

    botapi.make_forum(STAFF)
    bot = Bot(botapi.token, session=AiohttpSession(api=botapi.api_server()))
    try:
        manager = TopicManager(bot, STAFF, MemoryTopics(), limit=TopicRateLimit(1000))
        threads = await asyncio.gather(*(manager.ensure(c % 30) for c in range(90)))
        assert len(set(threads)) == 30
        assert len(manager._locks) == 0
    finally:
        await bot.session.close()


class UnknownCaseDesk(QuietStaffDesk):
    """Every case step and button lookup: no such case."""

    async def case_step(self, *args: Any) -> str:
        from taxrules.errors import UserFacingError

        raise UserFacingError("no case", "没有找到案件 TX-0。")

    async def case_buttons(self, number: str) -> list[str]:
        return await self.case_step()  # type: ignore[return-value]


async def test_a_typed_button_for_no_case_is_answered_and_nothing_else() -> None:
    from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup

    dp = Dispatcher()
    dp.include_router(build_router(STAFF))
    bot = MockedBot()
    update = Update.model_validate(
        {
            "update_id": 1,
            "callback_query": {
                "id": "q1",
                "from": {"id": 5001, "is_bot": False, "first_name": "王"},
                "chat_instance": "x",
                "data": "sc:claim:TX-0",
                "message": {
                    "message_id": 9,
                    "date": 0,
                    "chat": {"id": STAFF, "type": "supergroup", "title": "staff"},
                    "text": "🆕 新案件",
                },
            },
        }
    )
    await dp.feed_update(bot, update, staff_desk=UnknownCaseDesk())
    (answer,) = bot.session.of(AnswerCallbackQuery)
    assert answer.text == "没有找到案件 TX-0。" and answer.show_alert
    assert bot.session.of(EditMessageReplyMarkup) == []
