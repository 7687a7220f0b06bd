"""The web chat's channel without HTTP: store before the turn, buttons kept with the reply,
uploads accepted and refused, notices rendered through the outbox, the history from an id,
downloads checked against the conversation — on SQLite and PostgreSQL, the real dialogue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from actions.channel import InboundMessage, Reply
from app.container import Container
from console.webchat.channel import (
    CHANNEL,
    MAX_TEXT,
    ChatInputError,
    Upload,
    WebChatChannel,
    event_of,
)
from console.webchat.notices import WebNoticeSender, WebOutboxWorker
from desk.models import Outbox
from intake.storage import LocalAttachmentStore
from testing.app import MakeContainer, bot_settings
from testing.samples import GOOD_ID, REQUEST, make_pdf

CHAT = "browser-token-1"


@pytest.fixture
async def services(
    tmp_path: Path, database_url: str, make_container: MakeContainer, interpreter: Any
) -> AsyncIterator[Container]:
    settings = bot_settings(
        database_url=database_url, data_dir=tmp_path / "var", models_dir=tmp_path / "models"
    )
    yield await make_container(settings, interpreter=interpreter)


def channel_of(services: Container, engine: Any = None) -> WebChatChannel:
    assert services.runtime is not None
    return WebChatChannel(
        services.runtime,
        engine or services.engine,
        services.inbound,
        services.intake,
        services.outbound,
    )


def notices_of(services: Container) -> WebOutboxWorker:
    assert services.runtime is not None
    return WebOutboxWorker(
        services.runtime.sessions, WebNoticeSender(services.engine), channel=CHANNEL
    )


async def submitted_case(channel: WebChatChannel, chat: str = CHAT) -> str:
    """A return-correction case opened, its letter uploaded and submitted: the number."""
    await channel.text(chat, f"{REQUEST['hans']}，{GOOD_ID}")
    await channel.upload(chat, Upload(make_pdf(), "承诺书.pdf", "application/pdf"), "承诺书")
    replies = await channel.press(chat, "/submit_case")
    said = "\n".join(r.text for r in replies)
    assert "案件编号 " in said, said
    return said.split("案件编号 ")[1].split("，")[0]


class Spy:
    """The real dialogue, which first looks at what the desk holds for the chat."""

    def __init__(self, channel: WebChatChannel, engine: Any) -> None:
        self.channel = channel
        self.engine = engine
        self.seen: list[list[str | None]] = []

    async def handle(self, msg: InboundMessage, **kw: Any) -> list[Reply]:
        stored = await self.channel.history(msg.chat_id)
        self.seen.append([m.text for m in stored if m.direction == "in"])
        result: list[Reply] = await self.engine.handle(msg, **kw)
        return result


async def test_the_message_is_stored_before_the_turn_and_replies_keep_their_buttons(
    services: Container,
) -> None:
    channel = channel_of(services)
    spy = Spy(channel, services.engine)
    channel.engine = spy
    await channel.text(CHAT, f"{REQUEST['hans']}，{GOOD_ID}")
    assert spy.seen == [[f"{REQUEST['hans']}，{GOOD_ID}"]]  # stored before the dialogue ran
    await channel.upload(CHAT, Upload(make_pdf(), "承诺书.pdf", "application/pdf"), "承诺书")
    history = await channel.history(CHAT)
    last = event_of(history[-1])
    assert last["dir"] == "out" and last["from"] == "bot"
    payloads = [b["payload"] for row in last["buttons"] for b in row]
    assert "/submit_case" in payloads
    upload = event_of(history[-2])
    assert upload["dir"] == "in" and upload["file"] == "承诺书.pdf"
    replies = await channel.press(CHAT, "/submit_case")
    assert "案件编号 TX-" in replies[-1].text
    after = await channel.history(CHAT, history[-1].id, late=False)
    assert after[0].text == "/submit_case"


async def test_empty_and_overlong_text_are_refused_and_nothing_is_stored(
    services: Container,
) -> None:
    channel = channel_of(services)
    with pytest.raises(ChatInputError) as empty:
        await channel.text(CHAT, "   ")
    assert empty.value.user_message == "请输入内容后再发送。"
    with pytest.raises(ChatInputError) as long:
        await channel.text(CHAT, "税" * (MAX_TEXT + 1))
    assert "太长" in long.value.user_message
    assert await channel.history(CHAT) == []


async def test_a_refused_file_says_why_and_loses_nothing(services: Container) -> None:
    channel = channel_of(services)
    await channel.text(CHAT, f"{REQUEST['hans']}，{GOOD_ID}")
    bad = Upload(b"PK\x03\x04" + b"\0" * 100, "../../etc/申报.docx", None)
    replies = await channel.upload(CHAT, bad, None)
    assert "暂不支持这种文件" in "\n".join(r.text for r in replies)
    texts = [m.text for m in await channel.history(CHAT)]
    assert "[未接收的文件 申报.docx]" in texts  # the directory part is dropped
    number = await submitted_case(channel)  # the form went on from where it was
    assert number.startswith("TX-")


async def test_notices_are_rendered_with_rating_buttons_and_a_download_of_this_chat_only(
    services: Container,
) -> None:
    channel = channel_of(services)
    number = await submitted_case(channel)
    await channel.text("someone-else", "你好")
    runtime = services.runtime
    assert runtime is not None
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        staff = await desk.add_staff("王芳")
        await desk.claim(number, staff.id)
        await desk.ask_taxpayer(number, staff.id, "请问更正后的销售额是多少？")
    seen = (await channel.history(CHAT))[-1].id
    worker = notices_of(services)
    assert await worker.run_once() == 1
    question = [event_of(m) for m in await channel.history(CHAT, seen, late=False)]
    assert question[0]["kind"] == "case_question" and "销售额" in question[0]["text"]
    await channel.text(CHAT, "更正后销售额为12万元")  # the answer goes to the case
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        assert (await desk.case_detail(number)).events[-1].action == "answer"
        store = LocalAttachmentStore(services.settings.data_dir / "attachments")
        att = await desk.check_and_store(store, make_pdf(), "更正通知书.pdf")
        await desk.complete(number, staff.id, "已为您更正。", attachment_ids=[att.id])
    assert await worker.run_once() == 1
    done = event_of((await channel.history(CHAT))[-1])
    assert done["kind"] == "case_done" and "已办结" in done["text"]
    assert done["documents"] == [{"name": "更正通知书.pdf", "url": f"/chat/files/{att.id}"}]
    levels = [b["payload"] for row in done["buttons"] for b in row]
    assert any(p.startswith("/rate") for p in levels)
    doc = await channel.document(CHAT, att.id)
    assert doc is not None and doc.name == "更正通知书.pdf"
    assert await channel.document("someone-else", att.id) is None
    assert await channel.document(CHAT, att.id + 1000) is None
    replies = await channel.press(CHAT, levels[0])  # 非常满意
    assert "评价" in replies[-1].text
    async with runtime.sessions() as session:
        assert (await runtime.desk(session).case_detail(number)).rating is not None


async def test_the_history_resumes_after_an_id(services: Container) -> None:
    channel = channel_of(services)
    await channel.text(CHAT, "你好")
    first = await channel.history(CHAT)
    assert [m.direction for m in first][:2] == ["in", "out"]
    await channel.text(CHAT, "我要更正申报")
    later = await channel.history(CHAT, first[-1].id, late=False)
    assert later[0].text == "我要更正申报" and all(m.id > first[-1].id for m in later)
    again = await channel.history(CHAT, first[-1].id)  # with the late-commit window
    assert {m.id for m in later} <= {m.id for m in again}
    assert await channel.history("another-browser") == []


async def test_traditional_in_traditional_out_and_its_notices_too(services: Container) -> None:
    channel = channel_of(services)
    replies = await channel.text(CHAT, f"{REQUEST['hant']}，{GOOD_ID}")
    assert "請" in "".join(r.text for r in replies)
    assert await channel.script(CHAT) == "hant"
    await channel.upload(CHAT, Upload(make_pdf(), "承諾書.pdf", "application/pdf"), "承諾書")
    replies = await channel.press(CHAT, "/submit_case")
    number = replies[-1].text.split("案件編號 ")[1].split("，")[0]
    runtime = services.runtime
    assert runtime is not None
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        staff = await desk.add_staff("王芳")
        await desk.claim(number, staff.id)
        await desk.complete(number, staff.id, "已为您更正，请核对。")
    assert await notices_of(services).run_once() == 1
    done = event_of((await channel.history(CHAT))[-1])
    assert "已辦結" in done["text"] and "請核對" in done["text"]


async def test_a_typed_phone_number_verifies_nobody_and_says_how(services: Container) -> None:
    channel = channel_of(services)
    replies = await channel.text(CHAT, "验证")
    contact = [b for r in replies for row in r.buttons for b in row if b.request_contact]
    assert contact, "the dialogue offers the contact button"
    with pytest.raises(ChatInputError):
        await channel.phone(CHAT, " ")
    replies = await channel.phone(CHAT, "13800138000")
    assert "验证码" in replies[0].text and "无法确认" in replies[0].text
    texts = [m.text or "" for m in await channel.history(CHAT)]
    assert "13800138000" not in "".join(texts)  # stored masked
    assert texts[-1] == replies[0].text


async def test_the_template_the_bot_sends_is_downloadable_by_this_chat_only(
    services: Container,
) -> None:
    channel = channel_of(services)
    replies = await channel.text(CHAT, "承诺书模板在哪里下载")
    assert any(r.document is not None for r in replies)
    sent = [m for m in await channel.history(CHAT) if (m.meta or {}).get("template")]
    event = event_of(sent[-1])
    assert event["template"]["url"] == f"/chat/messages/{sent[-1].id}/file"
    assert "path" not in event["template"]  # the server's path stays on the server
    found = await channel.sent_file(CHAT, sent[-1].id)
    assert found is not None and found[0] == "承诺书模板.docx" and found[1][:2] == b"PK"
    assert await channel.sent_file("someone-else", sent[-1].id) is None
    assert await channel.sent_file(CHAT, sent[-1].id - 1) is None  # the question, no file


async def test_a_web_conversation_is_handed_to_staff_and_staff_words_come_back(
    tmp_path: Path, database_url: str, make_container: MakeContainer, interpreter: Any
) -> None:
    settings = bot_settings(
        database_url=database_url,
        data_dir=tmp_path / "var",
        models_dir=tmp_path / "models",
        staff_chat_id=-1001234567890,
    )
    services = await make_container(settings, interpreter=interpreter)
    channel = channel_of(services)
    await channel.text(CHAT, "你好")
    await channel.press(CHAT, "/request_human")
    runtime = services.runtime
    assert runtime is not None
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        conv = await desk.find_conversation(CHANNEL, CHAT)
        assert conv is not None and conv.state == "human"
        staff = await desk.add_staff("王芳")
        await desk.relay_to_taxpayer(conv.id, -1001234567890, 77, staff.id, text="您好，我是王芳")
    assert await notices_of(services).run_once() >= 1
    shown = [event_of(m) for m in await channel.history(CHAT)]
    said = [e for e in shown if e["from"] == "staff"]
    assert said and said[-1]["text"] == "您好，我是王芳"
    before = len(shown)
    replies = await channel.text(CHAT, "我的发票开错了")
    assert replies == []  # staff own the conversation: the bot stays quiet
    assert len(await channel.history(CHAT)) == before + 1  # and the message is kept
    # and it goes into the conversation's staff topic as text (no Telegram message to copy)
    async with runtime.sessions() as session:
        rows = (
            await session.scalars(
                select(Outbox).where(Outbox.kind == "staff_relay_text").order_by(Outbox.id)
            )
        ).all()
    assert [r.payload["text"] for r in rows] == ["我的发票开错了"]
    assert rows[0].channel == "telegram_staff" and rows[0].chat_id == str(conv.id)


async def test_turns_of_one_chat_run_one_at_a_time_in_order(services: Container) -> None:
    channel = channel_of(services)
    record = channel.record_replies
    active: list[str] = []
    order: list[str] = []

    async def slow_record(chat_id: str, replies: list[Reply]) -> None:
        active.append(chat_id)
        assert len(active) == 1, "two deliveries of one chat at once"
        await asyncio.sleep(0.05)
        order.append(replies[0].text)
        await record(chat_id, replies)
        active.remove(chat_id)

    channel.record_replies = slow_record  # type: ignore[method-assign]
    first, second = await asyncio.gather(
        channel.text(CHAT, "你好"), channel.text(CHAT, "周六大厅开门吗")
    )
    rows = await channel.history(CHAT)
    # each message is followed by its own replies, in the order the turns ran
    replies = {"你好": first, "周六大厅开门吗": second}
    ran = [m.text for m in rows if m.direction == "in"]
    assert sorted(ran) == sorted(replies)
    expected: list[tuple[str, str | None]] = []
    for text in ran:
        expected += [("in", text)] + [("out", r.text) for r in replies[str(text)]]
    assert [(m.direction, m.text) for m in rows] == expected
    assert order == [replies[str(text)][0].text for text in ran]


async def test_typed_commands_work_as_on_telegram(services: Container) -> None:
    """`/status`, `/help`… typed in the web chat are the same commands as Telegram's menu;
    what was typed is what is stored."""
    channel = channel_of(services)
    replies = await channel.text(CHAT, "/status")
    assert "没有在办事项" in replies[0].text
    assert (await channel.history(CHAT))[0].text == "/status"
    help_replies = await channel.text(CHAT, "/HELP")
    assert help_replies and "没有在办事项" not in help_replies[0].text
    unknown = await channel.text(CHAT, "/nonsense")  # not a command: the dialogue's own turn
    assert unknown
