"""End to end: the real Dispatcher, in polling and in webhook mode, against the local Bot API
server, with in-memory stores and an echo dialogue. (Outbox notices: tests/test_notices.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import ClientSession

from app.container import Container
from app.runners import SECRET_HEADER, TelegramService
from app.settings import Settings
from bot.sender import RateLimiter
from testing.app import bot_settings
from testing.botapi_server import BotAPIServer, MakeBotAPI
from testing.echo import LONG_PAYLOAD, EchoDialogue, long_text
from testing.memory import MemoryFileIntake, MemoryInboundStore
from testing.waits import holds

CHAT = 5001
PDF = b"%PDF-1.4\n" + b"0" * 2000
JPEG = b"\xff\xd8\xff\xe0" + b"1" * 3000


@dataclass
class Env:
    server: BotAPIServer
    service: TelegramService
    dialogue: EchoDialogue
    inbound: MemoryInboundStore
    intake: MemoryFileIntake
    mode: str


def _settings(server: BotAPIServer, **kw: object) -> Settings:
    return bot_settings(server, **kw)


def _container(settings: Settings) -> Container:
    """Fakes behind the real Telegram side, with test tuning."""
    return Container(
        settings,
        EchoDialogue(),
        MemoryInboundStore(),
        MemoryFileIntake(),
        album_quiet=0.3,
        typing_delay=0.05,
        limiter=RateLimiter(chat_rate=50, chat_burst=50),
        outbox_poll_interval=0.05,
    )


@pytest.fixture(params=["polling", "webhook"])
async def env(request: pytest.FixtureRequest, botapi: BotAPIServer) -> AsyncIterator[Env]:
    server = botapi
    deps = _container(_settings(server))
    service = TelegramService(deps)
    task: asyncio.Task[None] | None = None
    if request.param == "polling":
        task = asyncio.create_task(service.run_polling())
        await server.wait_until(lambda: bool(server.calls_of("getUpdates")))
    else:
        port = await service.serve_webhook(host="127.0.0.1", port=0)
        await service.register_webhook(f"http://127.0.0.1:{port}{service.webhook_path}")
    env = Env(
        server,
        service,
        deps.engine,  # type: ignore[arg-type]
        deps.inbound,  # type: ignore[arg-type]
        deps.intake,  # type: ignore[arg-type]
        request.param,
    )
    try:
        yield env
    finally:
        if task is not None:
            await service.stop_polling()
            await task
        else:
            await service.stop_webhook(unregister=True)
        await service.close()


async def test_text_gets_a_reply_and_commands_are_registered(env: Env) -> None:
    env.server.user_sends_text(CHAT, "你好")
    (reply,) = await env.server.wait_for_messages(CHAT, 1)
    assert reply.text == "echo: 你好"
    call = env.dialogue.calls[0]
    assert (call.channel, call.chat_id, call.user_id) == ("telegram", str(CHAT), str(CHAT))
    assert call.language_code == "zh-hans"
    assert len(env.inbound.updates) == 1
    (commands,) = env.server.commands.values()
    assert {c["command"] for c in commands} == {"start", "help", "status", "cancel", "human"}


async def test_command_is_mapped_to_payload(env: Env) -> None:
    env.server.user_sends_text(CHAT, "/status")
    await env.server.wait_for_messages(CHAT, 1)
    assert env.dialogue.texts() == ["/check_status"]


async def test_album_is_one_dialogue_turn(env: Env) -> None:
    env.server.user_sends_album(
        CHAT, [JPEG, JPEG + b"2", (PDF, "letter.pdf", "application/pdf")], caption="承诺书和发票"
    )
    (ack,) = await env.server.wait_for_messages(CHAT, 1)
    assert len(env.dialogue.calls) == 1
    call = env.dialogue.calls[0]
    assert call.text == "承诺书和发票"
    assert sorted(f.media_type for f in call.files) == [
        "application/pdf",
        "image/jpeg",
        "image/jpeg",
    ]
    assert ack.text is not None and ack.text.startswith("收到 3 个文件")
    stored = {a.data for a in env.intake.attachments.values()}
    assert stored == {JPEG, JPEG + b"2", PDF}
    # nothing else arrives after the quiet period
    await holds(lambda: len(env.server.sent_messages(CHAT)) == 1, during=0.4)


async def test_duplicate_update_is_processed_once(env: Env) -> None:
    update = env.server.user_sends_text(CHAT, "一次")
    await env.server.wait_for_messages(CHAT, 1)
    env.server.push_duplicate(update)
    env.server.user_sends_text(CHAT, "marker")
    await env.server.wait_for_messages(CHAT, 2)
    assert env.dialogue.texts() == ["一次", "marker"]
    assert env.inbound.duplicates == 1


async def test_long_reply_is_split_on_lines(env: Env) -> None:
    env.server.user_sends_text(CHAT, "long")
    await env.server.wait_for_messages(CHAT, 2)
    await holds(lambda: len(env.server.sent_messages(CHAT)) == 2, during=0.1)
    pieces = [m.text or "" for m in env.server.sent_messages(CHAT)]
    assert len(pieces) == 2
    assert all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == long_text()


async def test_button_press_feeds_payload(env: Env) -> None:
    env.server.user_sends_text(CHAT, "buttons")
    (question,) = await env.server.wait_for_messages(CHAT, 1)
    submit, _cancel = question.button_data()
    assert len(submit.encode()) <= 64 < len(LONG_PAYLOAD.encode())
    env.server.user_presses(CHAT, question.message_id, submit)
    await env.server.wait_for_messages(CHAT, 2)
    assert env.dialogue.calls[-1].text == LONG_PAYLOAD and env.dialogue.calls[-1].is_button
    assert env.server.sent_messages(CHAT)[1].text == f"pressed: {LONG_PAYLOAD}"
    assert env.server.sent_messages(CHAT)[0].reply_markup is None  # keyboard removed
    assert len(env.server.answered_callbacks) == 1


async def test_double_press_counts_once(env: Env) -> None:
    env.server.user_sends_text(CHAT, "buttons")
    (question,) = await env.server.wait_for_messages(CHAT, 1)
    data = question.button_data()[1]
    env.server.user_presses(CHAT, question.message_id, data)
    await env.server.wait_for_messages(CHAT, 2)
    # A second press arriving late (the client still showed the keyboard).
    env.server.push_update(
        {
            "callback_query": {
                "id": "late",
                "from": {"id": CHAT, "is_bot": False, "first_name": "U"},
                "message": question.message,
                "chat_instance": "1",
                "data": data,
            }
        }
    )
    env.server.user_sends_text(CHAT, "marker")
    await env.server.wait_for_messages(CHAT, 3)
    assert env.dialogue.texts() == ["buttons", "/cancel_request", "marker"]


async def test_file_over_20mb_refused_before_download(env: Env) -> None:
    big = b"%PDF" + b"\0" * (20 * 1024 * 1024)
    env.server.user_sends_document(CHAT, big, "scan.pdf", "application/pdf")
    (reply,) = await env.server.wait_for_messages(CHAT, 1, timeout=10)
    assert reply.text is not None and "超过 20 MB" in reply.text
    assert env.server.calls_of("getFile") == [] and env.server.downloads == []
    assert env.dialogue.calls[0].files == ()


async def test_unsupported_file_refused_with_reason(env: Env) -> None:
    env.server.user_sends_document(CHAT, b"PK\x03\x04docx", "a.docx", "application/msword")
    (reply,) = await env.server.wait_for_messages(CHAT, 1)
    assert reply.text is not None and "PDF 或 JPG/PNG" in reply.text
    assert env.intake.attachments == {}


async def test_group_messages_are_not_answered(env: Env) -> None:
    user = {"id": 77, "is_bot": False, "first_name": "G"}
    env.server.user_sends_text(-100123, "hello group", user=user)
    env.server.user_sends_text(CHAT, "marker")
    await env.server.wait_for_messages(CHAT, 1)
    assert env.dialogue.texts() == ["marker"]
    assert env.server.sent_messages(-100123) == []
    assert len(env.inbound.updates) == 2  # stored all the same


async def test_typing_while_the_dialogue_works(env: Env) -> None:
    env.dialogue.delay = 0.3
    env.server.user_sends_text(CHAT, "slow")
    await env.server.wait_for_messages(CHAT, 1)
    assert (CHAT, "typing") in env.server.chat_actions


async def test_webhook_secret_store_failure_and_retry(make_botapi: MakeBotAPI) -> None:
    server = await make_botapi(webhook_retry_delay=0.05)
    deps = _container(_settings(server))
    service = TelegramService(deps)
    try:
        port = await service.serve_webhook(host="127.0.0.1", port=0)
        url = f"http://127.0.0.1:{port}{service.webhook_path}"
        async with ClientSession() as http:
            body = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 1, "type": "private"},
                    "text": "x",
                },
            }
            async with http.post(url, json=body, headers={SECRET_HEADER: "wrong"}) as r:
                assert r.status == 401
        assert deps.engine.calls == []  # type: ignore[attr-defined]
        inbound: MemoryInboundStore = deps.inbound  # type: ignore[assignment]
        inbound.fail_next = 2  # storage down for two deliveries
        await service.register_webhook(url)
        update = server.user_sends_text(CHAT, "存一下")
        await server.wait_for_messages(CHAT, 1)
        statuses = [s for uid, s in server.webhook_deliveries if uid == update["update_id"]]
        assert statuses == [500, 500, 200]
        assert deps.engine.texts() == ["存一下"]  # type: ignore[attr-defined]
    finally:
        await service.stop_webhook(unregister=True)
        await service.close()


async def test_local_server_accepts_files_over_20mb(make_botapi: MakeBotAPI) -> None:
    server = await make_botapi(local_mode=True)
    deps = _container(_settings(server, telegram_api_local=True))
    service = TelegramService(deps)
    task = asyncio.create_task(service.run_polling())
    try:
        big = b"%PDF" + b"\0" * (21 * 1024 * 1024)
        server.user_sends_document(CHAT, big, "scan.pdf", "application/pdf")
        (reply,) = await server.wait_for_messages(CHAT, 1, timeout=20)
        assert reply.text is not None and reply.text.startswith("收到 1 个文件")
        intake: MemoryFileIntake = deps.intake  # type: ignore[assignment]
        (att,) = intake.attachments.values()
        assert att.data == big
        assert server.downloads == []  # read from the server's disk, not over HTTP
    finally:
        await service.stop_polling()
        await task
        await service.close()


async def test_webhook_answers_before_the_turn_is_done(env: Env) -> None:
    if env.mode != "webhook":
        pytest.skip("webhook only")
    env.dialogue.slow = {"慢慢来": 1.5}
    update = env.server.user_sends_text(CHAT, "慢慢来")
    await env.server.wait_until(
        lambda: (update["update_id"], 200) in env.server.webhook_deliveries
    )
    assert env.server.sent_messages(CHAT) == []  # acknowledged while the turn still runs
    assert ("telegram", update["update_id"]) in env.inbound.updates  # stored first
    await env.server.wait_for_messages(CHAT, 1)


async def test_reply_survives_a_server_hiccup_and_a_429(env: Env) -> None:
    env.server.fail_next("sendMessage", 1, status=502)
    env.server.user_sends_text(CHAT, "网络不好")
    (reply,) = await env.server.wait_for_messages(CHAT, 1)
    assert reply.text == "echo: 网络不好"
    env.server.fail_next("sendMessage", 1, status=429, retry_after=1)
    env.server.user_sends_text(CHAT, "再来")
    await env.server.wait_for_messages(CHAT, 2)
    assert len(env.server.calls_of("sendMessage")) == 4
