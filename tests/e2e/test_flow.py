"""End to end: the real bot (TelegramService, polling and webhook) against the local Bot API
server, with the real dialogue engine, a real NLU model (trained once per session), the real
desk on SQLite and on PostgreSQL, the document checks and the attachment store, and the staff
CLI (`python main.py cases complete`) as a subprocess against the same database."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.container import Container as Services
from app.container import build_container
from app.settings import Settings
from bot.keyboards import payload_key
from bot.sender import RateLimiter
from intake.storage import LocalAttachmentStore
from testing.app import bot_settings, start_telegram
from testing.botapi_server import BotAPIServer, MakeBotAPI, SentMessage
from testing.samples import BAD_ID, GOOD_ID, REQUEST, make_jpeg, make_pdf, png_bomb
from testing.waits import holds, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHAT = 7001

LANG = {"hans": "zh-hans", "hant": "zh-hant"}


# ---------------------------------------------------------------------- fixtures


@dataclass
class Bot:
    """A running bot process (in this event loop) and its services."""

    services: Services
    stop: asyncio.Event
    task: asyncio.Task[None]
    context: Any


@dataclass
class Harness:
    """The Bot API server, the settings, and the bot, which can be stopped and restarted."""

    server: BotAPIServer
    settings: Settings
    interpreter: Any
    mode: str
    chat: int = CHAT
    redis_prefix: str = "taxdesk:tracker:"
    bot: Bot | None = None
    webhook_port: int = 0
    log: list[str] = field(default_factory=list)
    reply_times: list[float] = field(default_factory=list)

    async def start(self) -> None:
        settings = self.settings
        if self.mode == "webhook":
            self.webhook_port = self.webhook_port or _free_port()
            settings = settings.model_copy(
                update={
                    "webhook_url": f"http://127.0.0.1:{self.webhook_port}/telegram/webhook",
                    "port": self.webhook_port,
                }
            )
        context = build_container(
            settings, interpreter=self.interpreter, redis_prefix=self.redis_prefix
        )
        services = _tuned(await context.__aenter__())
        stop, task = await start_telegram(services)
        if self.mode == "polling":
            n = len(self.server.calls_of("getUpdates"))
            await self.server.wait_until(lambda: len(self.server.calls_of("getUpdates")) > n)
        self.bot = Bot(services, stop, task, context)

    async def halt(self) -> None:
        bot, self.bot = self.bot, None
        if bot is None:
            return
        bot.stop.set()
        await asyncio.wait_for(bot.task, timeout=15)
        await bot.context.__aexit__(None, None, None)

    @property
    def services(self) -> Services:
        assert self.bot is not None
        return self.bot.services

    # ------------------------------------------------------------------ conversation helpers

    async def say(self, text: str, lang: str, *, expect: int = 1) -> list[SentMessage]:
        """The taxpayer writes `text`; wait for `expect` new bot messages."""
        before = len(self.server.sent_messages(CHAT))
        started = time.monotonic()
        self.server.user_sends_text(CHAT, text, language_code=lang)
        new = await self.new_messages(before, expect)
        self.reply_times.append(new[0].sent_at - started)
        return new

    async def new_messages(
        self,
        before: int,
        expect: int = 1,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        sent = await self.server.wait_for_messages(CHAT, before + expect, timeout=timeout)
        await asyncio.sleep(0.05)
        new = self.server.sent_messages(CHAT)[before:] or sent[before:]
        for m in new:
            self.log.append(f"B: {m.text}")
            print("B:", m.text, (m.button_data() and "[buttons]") or "")
        return new

    async def press(
        self, message: SentMessage, payload: str, *, expect: int = 1
    ) -> list[SentMessage]:
        """Press the button of `message` whose payload is `payload`."""
        data = f"b:{payload_key(payload)}"
        assert data in message.button_data(), (payload, message.button_data())
        before = len(self.server.sent_messages(CHAT))
        self.server.user_presses(CHAT, message.message_id, data)
        return await self.new_messages(before, expect)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tuned(services: Services) -> Services:
    """The test tuning of the bot (short album and typing delays, loose rate limits)."""
    return dataclasses.replace(
        services,
        album_quiet=0.3,
        typing_delay=0.05,
        limiter=RateLimiter(chat_rate=50, chat_burst=50),
        outbox_poll_interval=0.05,
    )


@pytest.fixture
async def harness_factory(
    tmp_path: Path, database_url: str, interpreter: Any, make_botapi: MakeBotAPI
) -> AsyncIterator[Any]:
    harnesses: list[Harness] = []

    async def make(mode: str) -> Harness:
        server = await make_botapi()
        settings = bot_settings(server, data_dir=tmp_path / "var", database_url=database_url)
        h = Harness(server, settings, interpreter, mode)
        harnesses.append(h)
        await h.start()
        return h

    try:
        yield make
    finally:
        for h in harnesses:
            await h.halt()


async def cli(settings: Settings, *args: str) -> dict[str, Any]:
    """`python main.py ARGS --json` against the same database; the JSON it printed."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=str(settings.database_url),
        TAXDESK_DATA_DIR=str(settings.data_dir),
        TAXDESK_LOG_LEVEL="WARNING",
    )
    env.pop("TELEGRAM_BOT_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *args,
        "--json",
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, (args, out.decode(), err.decode())
    return dict(json.loads(out.decode()))


async def case_detail(services: Services, number: str) -> Any:
    async with services.runtime.sessions() as session:
        return await services.runtime.desk(session).case_detail(number)


def texts(messages: list[SentMessage]) -> str:
    return "\n".join(m.text or "" for m in messages)


# ---------------------------------------------------------------------- the main flow

FLOWS = [
    ("sqlite", "hans", "polling"),
    ("sqlite", "hant", "webhook"),
    ("postgresql", "hans", "webhook"),
    ("postgresql", "hant", "polling"),
]


@pytest.mark.parametrize(
    ("database_url", "script", "mode"),
    FLOWS,
    indirect=["database_url"],
    ids=["-".join(f) for f in FLOWS],
)
async def test_main_flow(harness_factory: Any, script: str, mode: str) -> None:
    h: Harness = await harness_factory(mode)
    lang = LANG[script]
    hant = script == "hant"

    (ask,) = await h.say(REQUEST[script], lang)
    asked = ask.text or ""
    assert ("納稅人識別號" if hant else "纳税人识别号") in asked
    assert "税种" not in asked.split("。")[-1]  # only the taxpayer ID is asked

    (refused,) = await h.say(BAD_ID, lang)
    assert ("校驗" if hant else "校验") in (refused.text or "")

    (letter,) = await h.say(GOOD_ID, lang)
    assert ("承諾書" if hant else "承诺书") in (letter.text or "")
    assert GOOD_ID not in (letter.text or "")  # never shown in full

    pdf = make_pdf(2)
    before = len(h.server.sent_messages(CHAT))
    h.server.user_sends_document(
        CHAT, pdf, "承诺书.pdf", "application/pdf", caption="承諾書" if hant else "承诺书"
    )
    await h.new_messages(before)
    photo = make_jpeg()
    before = len(h.server.sent_messages(CHAT))
    h.server.user_sends_photo(CHAT, photo, caption="發票" if hant else "发票")
    acks = await h.new_messages(before)
    confirm = acks[-1]
    assert ("承諾書 ✓" if hant else "承诺书 ✓") in (confirm.text or "")

    (accepted,) = await h.press(confirm, "/submit_case")
    match = re.search(r"TX-\d{4}-\d{6}", accepted.text or "")
    assert match, accepted.text
    number = match.group(0)
    assert "已受理" in (accepted.text or "")
    assert ("案件編號" if hant else "案件编号") in (accepted.text or "")

    detail = await case_detail(h.services, number)
    assert detail.case.status == "queued"
    assert detail.case.slots["taxpayer_id"] == GOOD_ID
    assert detail.case.slots["tax_type"] == "vat" and detail.case.slots["tax_period"] == "2019-12"
    store = LocalAttachmentStore(h.settings.data_dir / "attachments")
    by_key = {a.document_key: a for a in detail.attachments}
    assert set(by_key) == {"commitment_letter", "supporting"}
    assert by_key["commitment_letter"].media_type == "application/pdf"
    assert by_key["supporting"].media_type == "image/jpeg"
    for att in detail.attachments:
        blob = await store.get(att.storage_key)
        assert hashlib.sha256(blob).hexdigest() == att.sha256
        if att.thumbnail_key:  # photos always; PDFs when the first page holds an image
            assert await store.exists(att.thumbnail_key)
    assert by_key["supporting"].thumbnail_key is not None
    assert by_key["commitment_letter"].sha256 == hashlib.sha256(pdf).hexdigest()

    # A staff member takes the case (in this process, through the desk the CLI calls) and
    # completes it with the command line, another process, against the same database.
    async with h.services.runtime.sessions() as session:
        desk = h.services.runtime.desk(session)
        member = await desk.add_staff("王芳", role="staff")
        await desk.claim(number, member.id)
    before = len(h.server.sent_messages(CHAT))
    done = await cli(
        h.settings, "cases", "complete", number, "--note", "已为您更正，请登录电子税务局查看。"
    )
    assert done["status"] == "done"
    (notice,) = await h.new_messages(before, timeout=10)
    # Commit of the completion (desk clock) to the notice reaching the Bot API server.
    arrived = time.time() - (time.monotonic() - notice.sent_at)
    latency = arrived - datetime.fromisoformat(done["closed_at"]).timestamp()
    print(f"\ncompletion notice latency ({h.mode}): {latency * 1000:.0f} ms")
    turns = ", ".join(f"{t * 1000:.0f}" for t in h.reply_times)
    print(f"text turn reply latency ({h.mode}, ms): {turns}")
    notice_text = notice.text or ""
    assert number in notice_text
    assert ("已辦結" if hant else "已办结") in notice_text
    assert len(notice.button_data()) == 5
    level_titles = [b["text"] for row in notice.reply_markup["inline_keyboard"] for b in row]
    assert level_titles[0] == ("非常滿意" if hant else "非常满意")

    rate_payload = "/rate" + json.dumps(
        {"case_number": number, "level": "satisfied"}, ensure_ascii=False, separators=(",", ":")
    )
    (thanks,) = await h.press(notice, rate_payload)
    detail = await case_detail(h.services, number)
    assert detail.rating is not None and detail.rating.level == "satisfied"
    print(thanks.text)


# ---------------------------------------------------------------------- restart, duplicates


async def inbound_rows(services: Services, update_id: int) -> int:
    """How many message rows the desk holds for a Telegram update."""
    from sqlalchemy import func, select

    from desk.models import Message

    async with services.runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.channel == "telegram", Message.update_id == str(update_id))
            )
            or 0
        )


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_restart_mid_form_continues(harness_factory: Any, mode: str) -> None:
    h: Harness = await harness_factory(mode)
    await h.say(REQUEST["hans"], "zh-hans")
    (letter,) = await h.say(GOOD_ID, "zh-hans")
    assert "承诺书" in (letter.text or "")

    await h.halt()  # the process goes away in the middle of the form
    await h.start()  # a new one on the same database

    before = len(h.server.sent_messages(CHAT))
    h.server.user_sends_document(
        CHAT, make_pdf(), "letter.pdf", "application/pdf", caption="承诺书"
    )
    (ack,) = await h.new_messages(before)
    assert "承诺书 ✓" in (ack.text or "")
    assert "纳税人识别号" not in (ack.text or "")  # nothing asked again
    (accepted,) = await h.press(ack, "/submit_case")
    match = re.search(r"TX-\d{4}-\d{6}", accepted.text or "")
    assert match, accepted.text
    detail = await case_detail(h.services, match.group(0))
    assert detail.case.status == "queued"
    assert detail.case.slots == {
        "tax_type": "vat",
        "tax_period": "2019-12",
        "taxpayer_id": GOOD_ID,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_same_update_twice_is_processed_once(harness_factory: Any, mode: str) -> None:
    h: Harness = await harness_factory(mode)
    update = h.server.user_sends_text(CHAT, REQUEST["hans"])
    await h.new_messages(0)
    h.server.push_duplicate(update)  # a polling replay / a webhook retry
    (refused,) = await h.say(BAD_ID, "zh-hans")  # the next message answers the first turn
    assert "校验" in (refused.text or "")
    # no second answer to the duplicate
    await holds(lambda: len(h.server.sent_messages(CHAT)) == 2, during=0.3)
    assert await inbound_rows(h.services, update["update_id"]) == 1
    tracker = await h.services.engine.tracker("telegram", str(CHAT))
    assert tracker is not None
    assert [t["text"] for t in tracker.turns if t["role"] == "user"] == [
        REQUEST["hans"],
        "9165****D1B",
    ]


async def test_every_message_is_stored_before_the_reply(harness_factory: Any) -> None:
    from sqlalchemy import func, select

    from desk.models import Message

    h: Harness = await harness_factory("polling")
    inbound_at_send: list[int] = []
    original = h.server._methods["sendmessage"]

    async def spy(params: dict[str, Any]) -> dict[str, Any]:
        async with h.services.runtime.sessions() as session:
            n = await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "in")
            )
        inbound_at_send.append(int(n or 0))
        return original(params)  # type: ignore[no-any-return]

    h.server._methods["sendmessage"] = spy
    for i, text in enumerate([REQUEST["hans"], BAD_ID, GOOD_ID]):
        await h.say(text, "zh-hans")
        assert inbound_at_send[-1] >= i + 1  # this turn's message was committed first

    async def recorded() -> list[Message]:
        # a reply is recorded after Telegram accepted it (group commit), so the last one
        # may still be on its way when the chat already shows it
        async with h.services.runtime.sessions() as session:
            rows = list((await session.scalars(select(Message).order_by(Message.id))).all())
        return rows if len(rows) >= 6 else []

    rows = await wait_for(recorded, 10)
    assert [r.direction for r in rows] == ["in", "out"] * 3  # replies are recorded too
    assert [r.text for r in rows if r.direction == "out"] == [
        m.text for m in h.server.sent_messages(CHAT)
    ]


# ---------------------------------------------------------------------- bad files


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("script", ["hans", "hant"])
async def test_bad_files_are_refused_and_collected_files_stay(
    harness_factory: Any, script: str
) -> None:
    h: Harness = await harness_factory("polling")
    hant = script == "hant"
    lang = LANG[script]
    await h.say(REQUEST[script], lang)
    await h.say(GOOD_ID, lang)
    before = len(h.server.sent_messages(CHAT))
    h.server.user_sends_document(
        CHAT, make_pdf(), "letter.pdf", "application/pdf", caption="承諾書" if hant else "承诺书"
    )
    (ack,) = await h.new_messages(before)
    assert ("承諾書 ✓" if hant else "承诺书 ✓") in (ack.text or "")

    def expect(hans: str, hant_text: str) -> str:
        return hant_text if hant else hans

    big = b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024)
    encrypted = make_pdf(password="secret")
    bad: list[tuple[str, bytes, str, str, str]] = [
        ("a.docx", b"PK\x03\x04" + b"\0" * 200, "application/msword", "PDF", "PDF"),
        ("empty.pdf", b"", "application/pdf", "0 字节", "0 字節"),
        ("broken.pdf", b"%PDF-1.4\n%%garbage\n" + b"\x00" * 50, "application/pdf", "损坏", "損壞"),
        ("locked.pdf", encrypted, "application/pdf", "密码", "密碼"),
        ("scan.pdf", big, "application/pdf", "20 MB", "20 MB"),
        ("bomb.png", png_bomb(), "image/png", "尺寸过大", "尺寸過大"),
    ]
    for name, data, mime, hans_word, hant_word in bad:
        gets = len(h.server.calls_of("getFile"))
        before = len(h.server.sent_messages(CHAT))
        h.server.user_sends_document(CHAT, data, name, mime)
        (reply,) = await h.new_messages(before)
        text = reply.text or ""
        assert expect(hans_word, hant_word) in text, (name, text)
        if name == "scan.pdf":
            assert len(h.server.calls_of("getFile")) == gets  # refused before downloading
        if hant:
            assert "请" not in text and "这个" not in text, text  # no Simplified leaks through

    # Nothing collected was lost: the letter is still there, the case can be submitted.
    before = len(h.server.sent_messages(CHAT))
    h.server.user_sends_photo(CHAT, make_jpeg(), caption="發票" if hant else "发票")
    (ack,) = await h.new_messages(before)
    assert expect("承诺书 ✓", "承諾書 ✓") in (ack.text or "")
    (accepted,) = await h.press(ack, "/submit_case")
    match = re.search(r"TX-\d{4}-\d{6}", accepted.text or "")
    assert match, accepted.text
    detail = await case_detail(h.services, match.group(0))
    assert sorted(a.document_key or "" for a in detail.attachments) == [
        "commitment_letter",
        "supporting",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_restart_with_redis_keeps_tracker_and_buttons(
    tmp_path: Path,
    database_url: str,
    interpreter: Any,
    botapi: BotAPIServer,
    redis_url: str,
    key_prefix: str,
) -> None:
    """With `REDIS_URL`, trackers and button maps live in Redis: a button sent before the
    restart still works after it."""
    from redis.asyncio import Redis
    from sqlalchemy import select

    from desk.models import Conversation

    server = botapi
    settings = bot_settings(
        server, data_dir=tmp_path / "var", database_url=database_url, redis_url=redis_url
    )
    prefix = f"{key_prefix}tracker:"
    h = Harness(server, settings, interpreter, "polling", redis_prefix=prefix)
    redis = Redis.from_url(redis_url)
    try:
        await h.start()
        await h.say(REQUEST["hans"], "zh-hans")
        await h.say(GOOD_ID, "zh-hans")
        before = len(server.sent_messages(CHAT))
        server.user_sends_document(
            CHAT, make_pdf(), "letter.pdf", "application/pdf", caption="承诺书"
        )
        (ack,) = await h.new_messages(before)
        assert await redis.exists(f"{prefix}telegram:{CHAT}")
        async with h.services.runtime.sessions() as session:
            conv = (await session.scalars(select(Conversation))).one()
            assert conv.tracker is None  # not in the database: in Redis

        await h.halt()
        await h.start()
        (accepted,) = await h.press(ack, "/submit_case")  # pressed after the restart
        assert "已受理" in (accepted.text or "")
    finally:
        await h.halt()
        keys = [k async for k in redis.scan_iter(f"{prefix}*")]
        keys += [k async for k in redis.scan_iter(f"taxdesk:fsm:{server.bot_id}:{CHAT}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_album_gets_one_acknowledgement(harness_factory: Any) -> None:
    h: Harness = await harness_factory("polling")
    await h.say(REQUEST["hans"], "zh-hans")
    await h.say(GOOD_ID, "zh-hans")
    before = len(h.server.sent_messages(CHAT))
    h.server.user_sends_album(
        CHAT,
        [(make_pdf(), "承诺书.pdf", "application/pdf"), make_jpeg(), make_jpeg(640, 480)],
        caption="承诺书和发票",
    )
    (ack,) = await h.new_messages(before)
    # one acknowledgement
    await holds(lambda: len(h.server.sent_messages(CHAT)) == before + 1, during=0.5)
    assert "收到 3 个文件" in (ack.text or "") and "承诺书 ✓" in (ack.text or "")
    (accepted,) = await h.press(ack, "/submit_case")
    match = re.search(r"TX-\d{4}-\d{6}", accepted.text or "")
    assert match, accepted.text
    detail = await case_detail(h.services, match.group(0))
    assert sorted(a.document_key or "" for a in detail.attachments) == [
        "commitment_letter",
        "supporting",
        "supporting",
    ]


# ---------------------------------------------------------------------- questions (issue 9)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_template_arrives_as_a_document_and_the_form_goes_on(
    harness_factory: Any,
) -> None:
    """Asked mid-form in Telegram, the commitment-letter template comes as a document (the
    text its caption), and the form asks for the letter again; the file's row is recorded."""
    from sqlalchemy import select

    from desk.models import Message

    h: Harness = await harness_factory("polling")
    await h.say(REQUEST["hans"], "zh-hans")
    await h.say(GOOD_ID, "zh-hans")
    doc, again = await h.say("承诺书模板在哪里下载？", "zh-hans", expect=2)
    assert doc.method == "sendDocument"
    assert doc.message["document"]["file_name"] == "承诺书模板.docx"
    assert doc.message["caption"].startswith("这是承诺书模板")
    assert "承诺书" in (again.text or "") and again.method == "sendMessage"
    async with h.services.runtime.sessions() as session:
        out = (await session.scalars(select(Message.text).where(Message.direction == "out"))).all()
    assert any((t or "").startswith("这是承诺书模板") for t in out)
