"""The local Bot API server behaves like the real one for what aiogram sends it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from aiohttp import ClientSession, web

from testing.botapi_server import BotAPIServer, MakeBotAPI


@pytest.fixture
def server(botapi: BotAPIServer) -> BotAPIServer:
    return botapi


@pytest.fixture
async def bot(server: BotAPIServer) -> AsyncIterator[Bot]:
    b = Bot(server.token, session=AiohttpSession(api=server.api_server()))
    yield b
    await b.session.close()


async def test_get_me_and_bad_token(server: BotAPIServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == server.bot_id and me.is_bot
    other = Bot("999:wrong", session=AiohttpSession(api=server.api_server()))
    with pytest.raises(TelegramUnauthorizedError):
        await other.get_me()
    await other.session.close()


async def test_long_polling_waits_and_offset_confirms(server: BotAPIServer, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        server.user_sends_text(42, "你好")

    task = asyncio.create_task(later())
    updates = await bot.get_updates(timeout=3)
    await task
    assert [u.message.text for u in updates if u.message] == ["你好"]
    # Not confirmed yet: the same update comes again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    # Confirmed by the offset: gone.
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []


async def test_allowed_updates_filter(server: BotAPIServer, bot: Bot) -> None:
    server.user_sends_text(42, "hi")
    assert await bot.get_updates(timeout=0, allowed_updates=["callback_query"]) == []
    assert len(await bot.get_updates(timeout=0, allowed_updates=["message"])) == 1


async def test_push_duplicate_is_delivered_again(server: BotAPIServer, bot: Bot) -> None:
    update = server.user_sends_text(42, "一次")
    first = await bot.get_updates(timeout=0)
    server.push_duplicate(update)
    second = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.update_id for u in second] == [update["update_id"]]


async def test_send_message_limit_and_markup(server: BotAPIServer, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(42, "长" * 4097)
    kb = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="提交", callback_data="b:abc")]]
    )
    msg = await bot.send_message(42, "长" * 4096, reply_markup=kb)
    sent = server.sent_messages(42)
    assert len(sent) == 1 and sent[0].message_id == msg.message_id
    assert sent[0].button_data() == ["b:abc"]
    too_long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(42, "x", reply_markup=too_long_data)


async def test_edit_delete_answer_callback_and_commands(server: BotAPIServer, bot: Bot) -> None:
    kb = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="是", callback_data="b:yes")]]
    )
    msg = await bot.send_message(42, "确认吗？", reply_markup=kb)
    update = server.user_presses(42, msg.message_id, "b:yes")
    assert update["callback_query"]["data"] == "b:yes"
    await bot.answer_callback_query(update["callback_query"]["id"], text="好")
    assert server.answered_callbacks[0]["text"] == "好"
    await bot.edit_message_reply_markup(chat_id=42, message_id=msg.message_id)
    assert server.sent_messages(42)[0].reply_markup is None
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_reply_markup(chat_id=42, message_id=msg.message_id)
    await bot.edit_message_text("已确认", chat_id=42, message_id=msg.message_id)
    assert server.sent_messages(42)[0].text == "已确认"
    await bot.delete_message(42, msg.message_id)
    assert server.sent_messages(42) == []
    with pytest.raises(TelegramBadRequest, match="not found"):
        await bot.edit_message_text("x", chat_id=42, message_id=msg.message_id)
    await bot.set_my_commands([BotCommand(command="start", description="开始")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])
    await bot.send_chat_action(42, "typing")
    assert server.chat_actions == [(42, "typing")]


async def test_multipart_upload_get_file_and_download(server: BotAPIServer, bot: Bot) -> None:
    payload = b"%PDF-1.4 fake" * 100
    msg = await bot.send_document(42, BufferedInputFile(payload, "letter.pdf"), caption="承诺书")
    assert msg.document is not None and msg.document.file_name == "letter.pdf"
    assert server.sent_messages(42)[0].text == "承诺书"
    f = await bot.get_file(msg.document.file_id)
    assert f.file_size == len(payload) and f.file_path
    buf = await bot.download_file(f.file_path, io.BytesIO())
    assert buf is not None and buf.read() == payload
    photo = await bot.send_photo(42, BufferedInputFile(b"\xff\xd8jpeg", "p.jpg"))
    assert photo.photo and photo.photo[-1].file_size == 6


async def test_user_files_and_download_limit(server: BotAPIServer, bot: Bot) -> None:
    server.user_sends_photo(42, b"\xff\xd8" + b"p" * 100, caption="照片")
    server.user_sends_document(42, b"\0" * (20 * 1024 * 1024 + 1), "big.pdf", "application/pdf")
    updates = await bot.get_updates(timeout=0)
    photo_msg, doc_msg = (u.message for u in updates)
    assert photo_msg is not None and photo_msg.photo and photo_msg.caption == "照片"
    f = await bot.get_file(photo_msg.photo[-1].file_id)
    assert f.file_path is not None
    data = await bot.download_file(f.file_path)
    assert data is not None and data.read() == b"\xff\xd8" + b"p" * 100
    assert doc_msg is not None and doc_msg.document is not None
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(doc_msg.document.file_id)
    assert len(server.downloads) == 1


async def test_local_mode_serves_large_files_by_path(make_botapi: MakeBotAPI) -> None:
    srv = await make_botapi(local_mode=True)
    bot = Bot(srv.token, session=AiohttpSession(api=srv.api_server()))
    try:
        big = b"\1" * (20 * 1024 * 1024 + 10)
        srv.user_sends_document(42, big, "scan.pdf", "application/pdf")
        (update,) = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.document is not None
        f = await bot.get_file(update.message.document.file_id)
        assert f.file_path is not None and Path(f.file_path).is_absolute()
        data = await bot.download_file(f.file_path)
        assert data is not None and data.read() == big
    finally:
        await bot.session.close()


async def test_album_shares_group_and_caption_on_first(server: BotAPIServer, bot: Bot) -> None:
    server.user_sends_album(
        42, [b"a", b"b", (b"%PDF", "x.pdf", "application/pdf")], caption="三份材料"
    )
    updates = await bot.get_updates(timeout=0)
    msgs = [u.message for u in updates if u.message]
    assert len(msgs) == 3 and len({m.media_group_id for m in msgs}) == 1
    assert [m.caption for m in msgs] == ["三份材料", None, None]
    assert msgs[2].document is not None


async def test_injected_faults(server: BotAPIServer, bot: Bot) -> None:
    server.fail_next("sendMessage", 1, status=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(42, "x")
    assert exc.value.retry_after == 3
    server.fail_next("sendMessage", 1, status=502)
    with pytest.raises(TelegramServerError):
        await bot.send_message(42, "x")
    await bot.send_message(42, "ok")
    assert [m.text for m in server.sent_messages(42)] == ["ok"]


async def test_json_and_form_bodies(server: BotAPIServer) -> None:
    async with ClientSession() as http:
        url = f"{server.url}/bot{server.token}/sendMessage"
        async with http.post(url, json={"chat_id": 7, "text": "json"}) as resp:
            assert (await resp.json())["ok"]
        async with http.post(url, data={"chat_id": "7", "text": "form"}) as resp:
            assert (await resp.json())["result"]["chat"]["id"] == 7
        async with http.post(f"{server.url}/bot{server.token}/nope") as resp:
            assert resp.status == 404
    assert [m.text for m in server.sent_messages(7)] == ["json", "form"]


async def test_webhook_delivery_secret_and_retry(server: BotAPIServer, bot: Bot) -> None:
    received: list[tuple[int, str | None]] = []
    failures = {"left": 2}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.append(
            (body["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        if failures["left"]:
            failures["left"] -= 1
            return web.Response(status=500)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        with pytest.raises(TelegramConflictError):
            await bot.get_updates(timeout=0)
        update = server.user_sends_text(42, "hook")
        await server.wait_until(lambda: server.pending_updates == 0)
        assert received == [(update["update_id"], "s3cret")] * 3
        assert [s for _, s in server.webhook_deliveries] == [500, 500, 200]
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        assert info.last_error_message and "500" in info.last_error_message
        await bot.delete_webhook()
        server.user_sends_text(42, "poll")
        assert len(await bot.get_updates(timeout=0)) == 1
    finally:
        await runner.cleanup()
