"""Desk notices to Telegram: the one outbox loop (`desk.outbox`) with the Telegram sender
(`bot.notices`), a real desk on SQLite and on PostgreSQL (a random database per test, dropped
after), the real Dispatcher and the local Bot API server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import desk.outbox as outbox_module
from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.ports import Requester
from actions.stores import InMemoryTrackerStore
from app.adapters import DeskNoticeLookups
from app.container import Container
from app.runners import TelegramService
from app.settings import Settings
from bot.notices import render_notice
from bot.sender import RateLimiter
from desk.batch import WriteBatcher
from desk.models import Base, Message, Outbox, utcnow
from desk.outbox import claim
from desk.runtime import DeskRuntime
from testing.app import bot_settings
from testing.botapi_server import BotAPIServer
from testing.dialogue import FakeGateway, FakeInterpreter, FakeNormalizers, parse
from testing.echo import EchoDialogue
from testing.memory import MemoryFileIntake, MemoryInboundStore
from testing.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]
TAX_ID = "91310115MA1K3YJ12G"
CHAT = 7001


@dataclass
class Env:
    server: BotAPIServer
    runtime: DeskRuntime
    url: str
    service: TelegramService
    stop: asyncio.Event
    staff_id: int
    worker: asyncio.Task[None] | None = None

    async def rows(self) -> list[Outbox]:
        async with self.runtime.sessions() as s:
            return list((await s.execute(select(Outbox).order_by(Outbox.id))).scalars())

    async def settled_rows(self, timeout: float = 5.0) -> list[Outbox]:  # noqa: ASYNC109
        """The rows once none is `sending` any more (the worker marks right after sending)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.rows()
            if all(r.status != "sending" for r in rows) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.05)

    async def end_leases(self) -> None:
        """Time passes for the rows' leases: every lease runs out now (a test that waited for
        a short real lease instead failed when the machine was slow to check it)."""
        async with self.runtime.sessions() as s:
            await s.execute(
                update(Outbox)
                .where(Outbox.locked_until.is_not(None))
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
            await s.commit()

    async def lease_expired(self) -> bool:
        """True once no row is leased any more (a `sending` row's lease ran out)."""
        now = utcnow()
        return all(r.locked_until is None or r.locked_until < now for r in await self.rows())

    async def open_case(self, chat: int = CHAT, *, first_words: str | None = None) -> str:
        """A taxpayer in `chat` with a submitted, claimed case (its queued notice sent)."""
        async with self.runtime.sessions() as s:
            d = self.runtime.desk(s)
            conv = await d.ensure_conversation("telegram", str(chat), str(chat))
            if first_words:
                writes = WriteBatcher(self.runtime.engine)
                await writes.record_inbound(
                    conv.id, "telegram", str(chat), text=first_words, update_id=f"u{chat}"
                )
            case = await d.open_case(
                "tax_certificate",
                taxpayer_id=conv.taxpayer_id,
                conversation_id=conv.id,
                slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
            )
            await d.submit(case.number, notify=False)
            await d.claim(case.number, self.staff_id)
            return case.number

    async def staff(self, action: str, number: str, text: str) -> None:
        async with self.runtime.sessions() as s:
            d = self.runtime.desk(s)
            await getattr(d, action)(number, self.staff_id, text)


def _settings(server: BotAPIServer, data_dir: Path | None = None) -> Settings:
    return bot_settings(server, **({"data_dir": data_dir} if data_dir else {}))


@pytest.fixture
def database(database_url: str) -> str:
    """A migrated database: SQLite, then PostgreSQL (tests/conftest.py)."""
    return database_url


async def _start(
    server: BotAPIServer,
    url: str,
    make: Callable[[DeskRuntime], Any],
    data_dir: Path | None = None,
) -> Env:
    """The desk (schema created) and the bot service on the Bot API server; `make` builds the
    dialogue over the runtime (the worker uses it too when it is a `DialogueEngine`)."""
    runtime = await asyncio.to_thread(DeskRuntime.create, url)
    async with runtime.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with runtime.sessions() as s:
        staff = await runtime.desk(s).add_staff("王芳")
    container = Container(
        _settings(server, data_dir),
        make(runtime),
        MemoryInboundStore(),
        MemoryFileIntake(),
        runtime=runtime,
        typing_delay=0.05,
        limiter=RateLimiter(chat_rate=50, chat_burst=50),
        outbox_poll_interval=0.1,
    )
    service = TelegramService(container)
    return Env(server, runtime, url, service, asyncio.Event(), staff.id)


@pytest.fixture
async def env(database: str, botapi: BotAPIServer, tmp_path: Path) -> AsyncIterator[Env]:
    e = await _start(botapi, database, lambda _: EchoDialogue(), tmp_path / "var")
    polling = asyncio.create_task(e.service.run_polling())
    worker = asyncio.create_task(e.service.run_outbox(e.stop))
    e.worker = worker
    try:
        yield e
    finally:
        e.stop.set()
        await e.service.stop_polling()
        await asyncio.wait_for(asyncio.gather(polling, worker), 10)
        await e.service.close()
        await e.runtime.close()


async def test_completion_arrives_with_rating_buttons_that_work(env: Env) -> None:
    number = await env.open_case()
    await env.staff("complete", number, "已开具，请在电子税务局下载。")
    (notice,) = await env.server.wait_for_messages(CHAT, 1)
    assert notice.text is not None and number in notice.text and "已办结" in notice.text
    titles = [b["text"] for row in notice.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert titles == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    # a press goes through the button map to the dialogue as the desk's /rate payload
    env.server.user_presses(CHAT, notice.message_id, notice.button_data()[1])
    replies = await env.server.wait_for_messages(CHAT, 2)
    pressed = (replies[1].text or "").removeprefix("pressed: ")
    assert pressed.startswith("/rate")
    assert json.loads(pressed[len("/rate") :]) == {"case_number": number, "level": "satisfied"}
    (row,) = await env.settled_rows()
    assert (row.kind, row.status, row.attempts) == ("case_done", "sent", 1)
    async with env.runtime.sessions() as s:
        (out,) = (await s.execute(select(Message).where(Message.direction == "out"))).scalars()
    assert out.outbox_key == row.idempotency_key
    assert out.channel_message_id == str(notice.message_id)


async def test_traditional_writer_gets_traditional_notice(env: Env) -> None:
    number = await env.open_case(first_words="請問稅務證明怎麼開？")
    await env.staff("reject", number, "所属期内没有缴税记录。")
    (notice,) = await env.server.wait_for_messages(CHAT, 1)
    assert notice.text is not None and "很抱歉" in notice.text and "未能受理" in notice.text
    assert "轉人工" in notice.text  # the Traditional script of the payload


async def test_429_retry_after_is_obeyed(env: Env) -> None:
    env.server.fail_next("sendMessage", 1, status=429, retry_after=1)
    number = await env.open_case()
    t0 = time.monotonic()
    await env.staff("complete", number, "已办好。")
    (notice,) = await env.server.wait_for_messages(CHAT, 1, timeout=6)
    assert time.monotonic() - t0 >= 1.0  # not before retry_after
    (row,) = await env.settled_rows()
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(env.server.calls_of("sendMessage")) == 2  # the 429, then the delivery
    assert len(env.server.sent_messages(CHAT)) == 1 and number in (notice.text or "")


async def test_server_error_backs_off_then_delivers(env: Env) -> None:
    env.server.fail_next("sendMessage", 1, status=502)
    number = await env.open_case()
    await env.staff("complete", number, "已办好。")
    await env.server.wait_until(lambda: bool(env.server.calls_of("sendMessage")))
    (row,) = await env.settled_rows()
    assert (row.status, row.attempts) == ("pending", 1)  # backoff(1): 1-2 s
    assert "TelegramServerError" in (row.last_error or "")
    assert row.next_attempt_at > row.created_at
    await env.server.wait_for_messages(CHAT, 1, timeout=8)
    await env.server.wait_until(lambda: len(env.server.calls_of("sendMessage")) == 2)
    (row,) = await env.settled_rows()
    assert row.attempts == 2


async def test_blocked_chat_fails_for_good(env: Env) -> None:
    env.server.fail_next(
        "sendMessage", 1, status=403, description="Forbidden: bot was blocked by the user"
    )
    blocked = await env.open_case(chat=42)
    await env.staff("complete", blocked, "好了。")
    await env.server.wait_until(lambda: bool(env.server.calls_of("sendMessage")))
    (row,) = await env.settled_rows()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "blocked" in (row.last_error or "")
    number = await env.open_case()  # other chats go on
    await env.staff("complete", number, "好了。")
    await env.server.wait_for_messages(CHAT, 1)
    assert env.server.sent_messages(42) == []


async def test_row_of_a_crashed_worker_is_shown_once(env: Env) -> None:
    """A worker claimed the notice and died before sending it: after the lease it is sent,
    once. And a worker that sent it but could not record it (database down) does not send it
    again when the row comes back."""
    env.stop.set()  # the service's worker stops; we drive one by hand
    assert env.worker is not None
    await asyncio.wait_for(asyncio.shield(env.worker), 10)
    number = await env.open_case()
    await env.staff("complete", number, "已办好。")
    async with env.runtime.sessions() as s:
        (dead,) = await claim(s, lease_seconds=600, channel="telegram")
    assert dead.attempts == 1
    from bot.notices import TelegramNoticeSender

    sender = TelegramNoticeSender(
        env.service.bot, env.service.replies, DeskNoticeLookups(env.runtime)
    )
    worker = outbox_module.OutboxWorker(
        env.runtime.sessions, sender, channel="telegram", lease_seconds=0.2
    )
    assert await worker.run_once() == 0  # still leased to the dead worker
    await env.end_leases()  # the dead worker's lease runs out
    real = outbox_module.mark_delivered
    failures = 1

    async def flaky(*args: Any, **kw: Any) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("database went away")
        await real(*args, **kw)

    outbox_module.mark_delivered = flaky  # type: ignore[assignment]
    try:
        assert await worker.run_once() == 1  # sent, not recorded
        await wait_for(env.lease_expired)
        assert await worker.run_once() == 1  # claimed again: recorded, not sent
    finally:
        outbox_module.mark_delivered = real  # type: ignore[assignment]
    assert len(env.server.sent_messages(CHAT)) == 1
    ((status, attempts),) = [(r.status, r.attempts) for r in await env.rows()]
    assert (status, attempts) == ("sent", 3)


class DeskAnswers(FakeGateway):
    """The fake gateway, but a staff question's answer goes to the real desk."""

    def __init__(self, runtime: DeskRuntime) -> None:
        super().__init__(lambda: date(2026, 11, 27))
        self.runtime = runtime

    async def answer_question(
        self,
        requester: Requester,
        case_number: str,
        text: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        await super().answer_question(
            requester, case_number, text, attachment_ids, taxpayer_id=taxpayer_id
        )
        async with self.runtime.sessions() as s:
            await self.runtime.desk(s).answer(case_number, text)


async def test_staff_question_then_the_reply_goes_to_the_case(
    database: str, botapi: BotAPIServer
) -> None:
    """The real dialogue engine (scripted NLU): the worker sends the desk's question and tells
    the engine; the taxpayer's next message answers the case (back to in_progress)."""

    def make(runtime: DeskRuntime) -> DialogueEngine:
        return DialogueEngine(
            FakeInterpreter({"销售额是12万": parse("provide_info", 0.9)}),
            DeskAnswers(runtime),
            InMemoryTrackerStore(),
            Domain.load(ROOT / "data"),
            normalizers=FakeNormalizers(),
        )

    env = await _start(botapi, database, make)
    polling = asyncio.create_task(env.service.run_polling())
    worker = asyncio.create_task(env.service.run_outbox(env.stop))
    try:
        number = await env.open_case()
        await env.staff("ask_taxpayer", number, "请确认销售额是多少？")
        (question,) = await env.server.wait_for_messages(CHAT, 1)
        assert "请确认销售额是多少" in (question.text or "")
        env.server.user_sends_text(CHAT, "销售额是12万")
        replies = await env.server.wait_for_messages(CHAT, 2)
        assert number in (replies[1].text or "")
        async with env.runtime.sessions() as s:
            detail = await env.runtime.desk(s).case_detail(number)
        assert detail.case.status == "in_progress"
        assert detail.events[-1].action == "answer"
        assert detail.events[-1].data and detail.events[-1].data["text"] == "销售额是12万"
    finally:
        env.stop.set()
        await env.service.stop_polling()
        await asyncio.wait_for(asyncio.gather(polling, worker), 10)
        await env.service.close()
        await env.runtime.close()


@pytest.mark.slow  # `python main.py cases complete` in a subprocess
async def test_completion_from_another_process_arrives_quickly(env: Env) -> None:
    """`python main.py cases complete` in another process; the worker here sends it (NOTIFY
    wakes it on PostgreSQL, polling finds it on SQLite). Timing printed, not asserted."""
    number = await env.open_case()
    cmd = [sys.executable, "main.py", "cases", "complete", number, "--note", "已办结。"]
    cmd += ["--staff", "王芳"]
    started = time.monotonic()
    proc = await asyncio.to_thread(
        subprocess.run,
        cmd,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": env.url},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    (notice,) = await env.server.wait_for_messages(CHAT, 1, timeout=5)
    print(f"notice {notice.sent_at - started:.3f}s after the CLI started ({env.url[:10]})")
    assert number in (notice.text or "")


def test_render_notice_picks_the_script() -> None:
    payload = {
        "text": {"zh_hans": "已办结", "zh_hant": "已辦結"},
        "buttons": [[{"title": {"zh_hans": "满意", "zh_hant": "滿意"}, "payload": "/rate{}"}]],
    }
    hant = render_notice(payload, "hant")
    assert hant.text == "已辦結" and hant.buttons[0][0].title == "滿意"
    assert render_notice(payload, "hans").text == "已办结"
    assert render_notice(payload, "").buttons[0][0].payload == "/rate{}"


async def test_completion_with_a_document_reaches_the_chat_as_a_document(env: Env) -> None:
    """A 完税证明 case completed with the certificate attached: the notice (naming the file,
    with the rating buttons), then the certificate itself through sendDocument."""
    from intake.storage import LocalAttachmentStore
    from testing.samples import make_pdf

    number = await env.open_case()
    store = LocalAttachmentStore(env.service.container.settings.data_dir / "attachments")
    async with env.runtime.sessions() as s:
        d = env.runtime.desk(s)
        att = await d.check_and_store(store, make_pdf(), "完税证明.pdf")
        await d.complete(number, env.staff_id, "已为您开具完税证明。", attachment_ids=[att.id])
    notice, document = await env.server.wait_for_messages(CHAT, 2)
    assert notice.method == "sendMessage" and "完税证明.pdf" in (notice.text or "")
    assert notice.reply_markup is not None  # the rating buttons stay on the notice
    assert document.method == "sendDocument"
    assert document.message["document"]["file_name"] == "完税证明.pdf"
    sent = env.server.files[document.message["document"]["file_id"]].data
    assert sent == await store.get(att.storage_key) and sent.startswith(b"%PDF")
    (row,) = await env.settled_rows()
    assert (row.kind, row.status, row.attempts) == ("case_done", "sent", 1)


async def test_a_traditional_writer_reads_the_staff_note_in_traditional(env: Env) -> None:
    number = await env.open_case(first_words="請問稅務證明怎麼開？")
    await env.staff("complete", number, "已为您开具完税证明，请登录电子税务局下载。")
    (notice,) = await env.server.wait_for_messages(CHAT, 1)
    assert "已為您開具完稅證明，請登錄電子稅務局下載。" in (notice.text or "")
    assert "辦理說明" in (notice.text or "")


async def test_a_console_reply_reaches_a_telegram_taxpayer(env: Env) -> None:
    """A staff member replies from the web console (`Desk.staff_reply`, `source: console`):
    the Telegram taxpayer is told who took over, then gets the text and the file (sendDocument),
    and the delivery is recorded as the conversation's outbound message."""
    from intake.storage import LocalAttachmentStore
    from testing.samples import make_pdf

    store = LocalAttachmentStore(env.service.container.settings.data_dir / "attachments")
    async with env.runtime.sessions() as s:
        d = env.runtime.desk(s)
        conv = await d.ensure_conversation("telegram", str(CHAT), str(CHAT))
        att = await d.check_and_store(store, make_pdf(), "补正通知.pdf")
        await d.staff_reply(conv.id, env.staff_id, "您好，请查看补正通知。", [att.id])
    taken, text, document = await env.server.wait_for_messages(CHAT, 3)
    assert (taken.method, taken.text) == (
        "sendMessage",
        "工作人员王芳为您服务，请直接在这里回复。",
    )
    assert (text.method, text.text) == ("sendMessage", "您好，请查看补正通知。")
    assert document.method == "sendDocument"
    assert document.message["document"]["file_name"] == "补正通知.pdf"
    assert env.server.files[document.message["document"]["file_id"]].data == await store.get(
        att.storage_key
    )
    rows = await env.settled_rows()
    assert [(r.kind, r.status) for r in rows] == [("taken_over", "sent"), ("staff_copy", "sent")]
    async with env.runtime.sessions() as s:
        out = (
            await s.execute(select(Message).where(Message.outbox_key == rows[1].idempotency_key))
        ).scalar_one()
    assert (out.direction, out.text) == ("out", "您好，请查看补正通知。")
