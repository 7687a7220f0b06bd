"""Handler tests: updates fed to the real Dispatcher against a mocked bot session."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    GetFile,
    SendChatAction,
    SendMessage,
)
from aiogram.types import Update

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import InMemoryTrackerStore
from app.container import Container
from app.settings import Settings
from app.telegram import create_dispatcher
from bot.keyboards import ButtonCb, payload_key
from desk.runtime import ROOT
from taxrules.errors import UserFacingError
from testing.dialogue import FakeGateway, FakeInterpreter, FakeNormalizers, parse
from testing.echo import LONG_PAYLOAD, EchoDialogue
from testing.memory import MemoryFileIntake, MemoryInboundStore
from testing.mocked_bot import MockedBot

CHAT = 777
_ids = itertools.count(1)


class NotNow(UserFacingError):
    def __init__(self) -> None:
        super().__init__("not now", "这个操作现在做不了。")


class LooksUserFacing(Exception):
    """Has a `user_message` but is not a `UserFacingError`: not shown to the taxpayer."""

    user_message = "内部信息"


def _user(lang: str = "zh-hans") -> dict[str, Any]:
    return {"id": CHAT, "is_bot": False, "first_name": "T", "language_code": lang}


def text_update(
    text: str, *, chat_id: int = CHAT, lang: str = "zh-hans", uid: int | None = None
) -> Update:
    chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": "g"}
    return Update.model_validate(
        {
            "update_id": uid or next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": 0,
                "chat": chat,
                "from": _user(lang),
                "text": text,
            },
        }
    )


def photo_update(
    file_id: str, size: int, *, group: str | None = None, caption: str | None = None
) -> Update:
    msg: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 0,
        "chat": {"id": CHAT, "type": "private"},
        "from": _user(),
        "photo": [
            {
                "file_id": file_id,
                "file_unique_id": file_id,
                "width": 10,
                "height": 10,
                "file_size": size,
            }
        ],
    }
    if group:
        msg["media_group_id"] = group
    if caption:
        msg["caption"] = caption
    return Update.model_validate({"update_id": next(_ids), "message": msg})


def press_update(data: str, message_id: int = 5) -> Update:
    return Update.model_validate(
        {
            "update_id": next(_ids),
            "callback_query": {
                "id": str(next(_ids)),
                "from": _user(),
                "chat_instance": "x",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": 0,
                    "chat": {"id": CHAT, "type": "private"},
                    "text": "要提交吗？",
                },
            },
        }
    )


@pytest.fixture
def bot() -> MockedBot:
    return MockedBot()


@pytest.fixture
def dialogue() -> EchoDialogue:
    return EchoDialogue()


@pytest.fixture
def inbound() -> MemoryInboundStore:
    return MemoryInboundStore()


@pytest.fixture
def dp(bot: MockedBot, dialogue: EchoDialogue, inbound: MemoryInboundStore) -> Dispatcher:
    settings = Settings(_env_file=None, redis_url=None, telegram_api_url=None)  # type: ignore[call-arg]
    container = Container(
        settings, dialogue, inbound, MemoryFileIntake(), album_quiet=0.1, typing_delay=0.05
    )
    return create_dispatcher(container, bot, storage=MemoryStorage())


def sent_texts(bot: MockedBot) -> list[str]:
    return [m.text for m in bot.session.of(SendMessage)]


async def test_text_goes_to_dialogue_and_reply_is_sent(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    await dp.feed_update(bot, text_update("你好", lang="zh-hant"))
    (call,) = dialogue.calls
    assert (call.text, call.chat_id, call.language_code) == ("你好", str(CHAT), "zh-hant")
    assert sent_texts(bot) == ["echo: 你好"]


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        ("/start", "/greet"),
        ("/help", "/help"),
        ("/status", "/check_status"),
        ("/CANCEL", "/cancel_request"),
        ("/human", "/request_human"),
    ],
)
async def test_commands_become_payloads(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue, command: str, payload: str
) -> None:
    await dp.feed_update(bot, text_update(command))
    assert dialogue.texts() == [payload]


async def test_same_update_twice_is_processed_once(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue, inbound: MemoryInboundStore
) -> None:
    update = text_update("一次", uid=900001)
    await dp.feed_update(bot, update)
    await dp.feed_update(bot, update)
    assert dialogue.texts() == ["一次"]
    assert inbound.duplicates == 1
    stored = inbound.updates[("telegram", 900001)]
    assert (stored.chat_id, stored.text, stored.raw["message"]["from"]["id"]) == (
        str(CHAT),
        "一次",
        CHAT,
    )


async def test_update_is_not_acted_on_if_it_cannot_be_stored(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue, inbound: MemoryInboundStore
) -> None:
    inbound.fail_next = 1
    await dp.feed_update(bot, text_update("丢不了"))
    assert dialogue.calls == []
    assert len(sent_texts(bot)) == 1 and "请稍后再试" in sent_texts(bot)[0]


async def test_group_chat_is_ignored(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    await dp.feed_update(bot, text_update("hi", chat_id=-1001))
    assert dialogue.calls == [] and bot.session.requests == []


async def test_sticker_gets_a_hint(dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue) -> None:
    update = Update.model_validate(
        {
            "update_id": next(_ids),
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": CHAT, "type": "private"},
                "from": _user("zh-tw"),
                "location": {"latitude": 1.0, "longitude": 2.0},
            },
        }
    )
    await dp.feed_update(bot, update)
    assert dialogue.calls == []
    assert "請用文字描述" in sent_texts(bot)[0]


async def test_buttons_carry_short_keys_and_press_feeds_payload(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    await dp.feed_update(bot, text_update("buttons"))
    (question,) = bot.session.of(SendMessage)
    data = [b.callback_data for row in question.reply_markup.inline_keyboard for b in row]
    assert data == [
        ButtonCb(k=payload_key(LONG_PAYLOAD)).pack(),
        ButtonCb(k=payload_key("/cancel_request")).pack(),
    ]
    assert all(len(d.encode()) <= 64 for d in data)
    await dp.feed_update(bot, press_update(data[0]))
    assert dialogue.calls[-1].text == LONG_PAYLOAD and dialogue.calls[-1].is_button
    assert len(bot.session.of(AnswerCallbackQuery)) == 1
    (edit,) = bot.session.of(EditMessageReplyMarkup)
    assert edit.reply_markup is None and edit.message_id == 5
    assert sent_texts(bot)[-1] == f"pressed: {LONG_PAYLOAD}"


async def test_unknown_button_key_says_expired(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    await dp.feed_update(bot, press_update(ButtonCb(k="nope").pack()))
    assert dialogue.calls == []
    assert "过期" in sent_texts(bot)[0]
    await dp.feed_update(bot, press_update("something-else"))
    assert len(bot.session.of(AnswerCallbackQuery)) == 2


async def test_album_is_one_turn(dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue) -> None:
    for i in range(3):
        bot.session.files[f"f{i}"] = b"\xff\xd8" + bytes([i]) * 10
    updates = [
        photo_update(f"f{i}", 12, group="g1", caption="三张" if i == 0 else None) for i in range(3)
    ]
    await asyncio.gather(*(dp.feed_update(bot, u) for u in updates))
    (call,) = dialogue.calls
    assert len(call.files) == 3 and call.text == "三张"
    assert len(bot.session.of(SendMessage)) == 1


async def test_too_large_photo_is_refused_without_get_file(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    await dp.feed_update(bot, photo_update("big", 25 * 1024 * 1024))
    assert bot.session.of(GetFile) == []
    assert dialogue.calls[0].rejected_files == ("文件超过 20 MB，请压缩后再发，或分页拍照发送。",)


async def test_typing_is_sent_while_slow(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    dialogue.delay = 0.2
    await dp.feed_update(bot, text_update("慢"))
    assert [a.action for a in bot.session.of(SendChatAction)][:1] == ["typing"]


async def test_no_typing_when_fast(dp: Dispatcher, bot: MockedBot) -> None:
    await dp.feed_update(bot, text_update("快"))
    assert bot.session.of(SendChatAction) == []


async def test_user_facing_error_is_told(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    dialogue.raise_next = NotNow()
    await dp.feed_update(bot, text_update("x"))
    assert sent_texts(bot) == ["这个操作现在做不了。"]


async def test_only_user_facing_errors_are_told(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    dialogue.raise_next = LooksUserFacing()
    await dp.feed_update(bot, text_update("x"))
    (text,) = sent_texts(bot)
    assert "抱歉" in text and "内部信息" not in text


async def test_unexpected_error_apologises_and_logs_no_taxpayer_id(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue, caplog: pytest.LogCaptureFixture
) -> None:
    dialogue.raise_next = RuntimeError("boom")
    with caplog.at_level(logging.INFO):
        await dp.feed_update(bot, text_update("代码91310115MA1K3YJ12G"))
    assert "抱歉" in sent_texts(bot)[0]
    assert "91310115MA1K3YJ12G" not in caplog.text
    assert "RuntimeError" in caplog.text


async def test_one_chat_is_served_in_order_other_chats_in_parallel(
    dp: Dispatcher, bot: MockedBot, dialogue: EchoDialogue
) -> None:
    dialogue.slow = {"慢的先来": 0.3}

    async def later(update: Update) -> None:
        await asyncio.sleep(0.05)
        await dp.feed_update(bot, update)

    await asyncio.gather(
        dp.feed_update(bot, text_update("慢的先来")),
        later(text_update("快的后到")),
        later(text_update("别的聊天", chat_id=CHAT + 1)),
    )
    assert sent_texts(bot) == ["echo: 别的聊天", "echo: 慢的先来", "echo: 快的后到"]
    assert len(dialogue.locks) == 0  # nothing left behind


async def test_real_engine_serialises_one_chat_and_sends_its_replies_in_order(
    bot: MockedBot, inbound: MemoryInboundStore
) -> None:
    """The real `DialogueEngine` behind the Dispatcher: its per-chat lock is the only one a
    turn takes, and it covers sending too, so a slow first send is not overtaken."""
    engine = DialogueEngine(
        FakeInterpreter({"你好": parse("greet"), "谢谢": parse("thank")}),
        FakeGateway(),
        InMemoryTrackerStore(),
        Domain.load(ROOT / "data"),
        normalizers=FakeNormalizers(),
    )
    settings = Settings(_env_file=None, redis_url=None, telegram_api_url=None)  # type: ignore[call-arg]
    container = Container(settings, engine, inbound, MemoryFileIntake(), typing_delay=5.0)
    dp = create_dispatcher(container, bot, storage=MemoryStorage())
    replies = dp["replies"]
    send = replies.send
    first_sending = asyncio.Event()

    async def slow_first_send(*args: Any, **kwargs: Any) -> Any:
        if not first_sending.is_set():
            first_sending.set()
            await asyncio.sleep(0.2)
        return await send(*args, **kwargs)

    replies.send = slow_first_send

    async def after_first_is_sending(update: Update) -> None:
        await first_sending.wait()
        await dp.feed_update(bot, update)

    await asyncio.gather(
        dp.feed_update(bot, text_update("你好")), after_first_is_sending(text_update("谢谢"))
    )
    tracker = await engine.tracker("telegram", str(CHAT))
    assert tracker is not None
    user_turns = [t["text"] for t in tracker.turns if t["role"] == "user"]
    bot_turns = [t["text"] for t in tracker.turns if t["role"] == "bot"]
    assert user_turns == ["你好", "谢谢"]
    assert sent_texts(bot) == bot_turns  # the first turn's replies, then the second's
    assert len(engine._locks) == 0
