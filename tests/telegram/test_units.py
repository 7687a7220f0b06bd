"""Unit tests of the Telegram-side helpers: splitting, keyboards, rate limits, redaction,
albums. (The outbox's per-chat order is tested in tests/desk/test_outbox.py.)"""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message

from actions.channel import Button
from bot.albums import AlbumCollector
from bot.keyboards import MAX_BUTTONS_PER_CHAT, ButtonCb, StorageButtonStore, build_keyboard
from bot.middlewares import RedactingFilter
from bot.sender import TokenBucket, split_text
from taxrules.masking import redact_taxpayer_ids


def test_short_text_is_one_piece_and_blank_is_none() -> None:
    assert split_text("你好") == ["你好"]
    assert split_text("  \n ") == []


def test_split_prefers_line_boundaries() -> None:
    lines = [f"{i:02d}" + "字" * 97 for i in range(50)]  # 100 chars a line
    text = "\n".join(lines)
    pieces = split_text(text, limit=1000)
    assert all(len(p) <= 1000 for p in pieces)
    assert "\n".join(pieces) == text
    assert all(p.split("\n")[0][:2].isdigit() for p in pieces)  # every piece starts a line


def test_overlong_line_is_cut_and_utf16_counted() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert [len(p.encode("utf-16-le")) // 2 for p in pieces] == [4096, 6000 - 4096]


def test_keyboard_keys_fit_and_are_stable() -> None:
    long_payload = '/choose_case_type{"case_type": "return_correction"}' + "x" * 200
    markup, mapping = build_keyboard([[Button("更正", long_payload), Button("否", "/deny")]])
    assert markup is not None
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert all(d is not None and len(d.encode()) <= 64 for d in data)
    keys = [ButtonCb.unpack(d).k for d in data if d]
    assert [mapping[k] for k in keys] == [long_payload, "/deny"]
    _, again = build_keyboard([[Button("更正", long_payload)]])
    assert list(again) == keys[:1]
    assert build_keyboard([]) == (None, {})


async def test_button_store_is_per_chat_and_capped() -> None:
    store = StorageButtonStore(MemoryStorage(), bot_id=1)
    await store.put(10, {"a": "/affirm"})
    assert await store.get(10, "a") == "/affirm"
    assert await store.get(11, "a") is None
    await store.put(10, {f"k{i}": f"/p{i}" for i in range(MAX_BUTTONS_PER_CHAT)})
    assert await store.get(10, "a") is None  # the oldest went first
    assert await store.get(10, f"k{MAX_BUTTONS_PER_CHAT - 1}") is not None


def test_token_bucket_reserves_in_turn() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3)
    waits = [bucket.reserve() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.9 < waits[3] <= 1.0 and 1.9 < waits[4] <= 2.0


def test_taxpayer_ids_and_secrets_are_redacted() -> None:
    assert redact_taxpayer_ids("代码91310115MA1K3YJ12G好") == "代码9131****12G好"
    assert redact_taxpayer_ids("order 123456789012345678901") == "order 123456789012345678901"
    flt = RedactingFilter(["123:SECRET"])
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "url %s id %s",
        ("/bot123:SECRET/x", "91310115MA1K3YJ12G"),
        None,
    )
    flt.filter(record)
    assert record.getMessage() == "url /bot***/x id 9131****12G"


def _msg(mid: int, group: str | None) -> Message:
    data = {"message_id": mid, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
    if group:
        data["media_group_id"] = group
    return Message.model_validate(data)


async def test_album_collector_gives_the_album_to_the_first_handler() -> None:
    albums = AlbumCollector(quiet=0.1)

    async def late(mid: int) -> list[Message] | None:
        await asyncio.sleep(0.03 * mid)
        return await albums.collect(_msg(mid, "g"))

    results = await asyncio.gather(late(3), late(1), late(2), albums.collect(_msg(9, None)))
    first = results[1]
    assert first is not None and [m.message_id for m in first] == [1, 2, 3]
    assert results[0] is None and results[2] is None
    assert results[3] is not None and [m.message_id for m in results[3]] == [9]


@pytest.mark.parametrize("size", [0])
async def test_memory_intake_refuses_empty(size: int) -> None:
    from bot.ports import FileRejected
    from testing.memory import MemoryFileIntake

    with pytest.raises(FileRejected) as e:
        await MemoryFileIntake().accept(b"" * size, "a.pdf", "application/pdf")
    assert "0 字节" in e.value.user_message


@pytest.mark.redis
async def test_button_store_in_redis_does_not_touch_fsm_data() -> None:
    import secrets

    from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
    from aiogram.fsm.storage.redis import RedisStorage

    prefix = f"test_tg_{secrets.token_hex(6)}"
    storage = RedisStorage.from_url(
        "redis://127.0.0.1:6379/0",
        key_builder=DefaultKeyBuilder(prefix=prefix, with_destiny=True),
    )
    try:
        fsm_key = StorageKey(bot_id=1, chat_id=10, user_id=10)
        await storage.set_data(fsm_key, {"form": "return_correction"})
        store = StorageButtonStore(storage, bot_id=1)
        await store.put(10, {"k": "/submit_case"})
        assert await store.get(10, "k") == "/submit_case"
        assert await storage.get_data(fsm_key) == {"form": "return_correction"}
        again = StorageButtonStore(storage, bot_id=1)  # a restarted bot
        assert await again.get(10, "k") == "/submit_case"
    finally:
        keys = [k async for k in storage.redis.scan_iter(f"{prefix}:*")]
        if keys:
            await storage.redis.delete(*keys)
        await storage.close()
