"""A reply that carries a file (the commitment-letter template) goes out as a Telegram
document through the local Bot API server: the file's name, the text as its caption, the
buttons under it; a caption over Telegram's 1,024 characters follows as text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.fsm.storage.memory import MemoryStorage

from actions.channel import Button, OutboundFile, Reply
from actions.dispatcher import merge_replies
from bot.keyboards import StorageButtonStore
from bot.sender import ReplySender
from testing.botapi_server import BotAPIServer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "data" / "templates" / "commitment_letter.docx"
CHAT = 4242


@pytest.fixture
async def bot(botapi: BotAPIServer) -> AsyncIterator[Bot]:
    b = Bot(botapi.token, session=AiohttpSession(api=botapi.api_server()))
    yield b
    await b.session.close()


def sender(bot: Bot) -> ReplySender:
    return ReplySender(StorageButtonStore(MemoryStorage(), bot.id))


async def test_the_template_is_sent_as_a_document(bot: Bot, botapi: BotAPIServer) -> None:
    reply = Reply(
        "这是承诺书模板，填好并盖章后拍照或扫描发给我即可。",
        ((Button("转人工", "/request_human"),),),
        OutboundFile(str(TEMPLATE), "承诺书模板.docx"),
    )
    await sender(bot).send(bot, CHAT, [reply, Reply("请上传盖章的承诺书（PDF 或照片）。")])
    sent = botapi.sent_messages(CHAT)
    assert [m.method for m in sent] == ["sendDocument", "sendMessage"]
    doc = sent[0].message
    assert doc["document"]["file_name"] == "承诺书模板.docx"
    assert doc["document"]["file_size"] == TEMPLATE.stat().st_size
    assert doc["caption"].startswith("这是承诺书模板")
    assert sent[0].params.get("reply_markup")  # the buttons under the file
    assert sent[1].text == "请上传盖章的承诺书（PDF 或照片）。"


async def test_a_long_caption_follows_the_file_as_text(bot: Bot, botapi: BotAPIServer) -> None:
    long = "说明" * 600  # 1,200 characters
    await sender(bot).send(bot, CHAT, [Reply(long, (), OutboundFile(str(TEMPLATE), "t.docx"))])
    sent = botapi.sent_messages(CHAT)
    assert [m.method for m in sent] == ["sendDocument", "sendMessage"]
    assert "caption" not in sent[0].message and sent[1].text == long


def test_a_reply_with_a_file_is_not_merged_into_another() -> None:
    doc = OutboundFile(str(TEMPLATE), "t.docx")
    merged = merge_replies([Reply("a"), Reply("b", (), doc), Reply("c"), Reply("d")])
    assert [(r.text, r.document is not None) for r in merged] == [
        ("a", False),
        ("b", True),
        ("c\nd", False),
    ]
