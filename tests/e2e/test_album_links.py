"""Every file of an upload or an album is linked to its own inbound message row (one row per
Telegram message), through the real wiring on SQLite and the local Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.container import Container as Services
from app.runners import run_telegram
from bot.sender import RateLimiter
from desk.migrate import upgrade
from desk.models import Attachment, Message
from testing.app import MakeContainer, bot_settings
from testing.botapi_server import BotAPIServer
from testing.samples import make_jpeg, make_pdf

CHAT = 7401


@pytest.fixture
async def running(
    tmp_path: Path, botapi: BotAPIServer, make_container: MakeContainer
) -> AsyncIterator[tuple[BotAPIServer, Services]]:
    server = botapi
    url = f"sqlite+aiosqlite:///{tmp_path / 'albums.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    settings = bot_settings(server, database_url=url, data_dir=tmp_path / "var")
    stop = asyncio.Event()
    services = await make_container(settings)
    services.album_quiet = 0.3
    services.typing_delay = 0.05
    services.limiter = RateLimiter(chat_rate=50, chat_burst=50)
    task = asyncio.create_task(run_telegram(services, stop, worker=False))
    try:
        yield server, services
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _inbound_rows(services: Services) -> list[Message]:
    async with services.runtime.sessions() as s:
        rows = await s.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)
        )
        return list(rows)


async def test_every_album_file_is_on_its_own_message_row(
    running: tuple[BotAPIServer, Services],
) -> None:
    server, services = running
    updates = server.user_sends_album(
        CHAT,
        [make_jpeg(), (make_pdf(), "letter.pdf", "application/pdf"), make_jpeg(640, 480)],
        caption="承诺书和发票",
    )
    await server.wait_for_messages(CHAT, 1, timeout=10)  # one acknowledgement for the album
    server.user_sends_document(CHAT, b"PK\x03\x04" + b"\0" * 100, "a.docx", "application/zip")
    await server.wait_for_messages(CHAT, 2, timeout=10)
    server.user_sends_photo(CHAT, make_jpeg(), caption="再一张")
    await server.wait_for_messages(CHAT, 3, timeout=10)

    rows = await _inbound_rows(services)
    sent_ids = [str(u["message"]["message_id"]) for u in updates]
    album_rows = [r for r in rows if r.channel_message_id in sent_ids]
    # One row per message. Album items are handled concurrently and their inbound rows may
    # share one group commit, so row order within the album is not the message order.
    assert sorted(r.channel_message_id for r in album_rows) == sorted(sent_ids)
    by_message = {r.channel_message_id: r.attachment_id for r in album_rows}
    linked = [by_message[m] for m in sent_ids]  # in the order the files were sent
    assert all(linked) and len(set(linked)) == 3
    refused, single = rows[-2], rows[-1]
    assert refused.attachment_id is None  # the refused .docx has no attachment
    assert single.attachment_id is not None and single.attachment_id not in linked
    async with services.runtime.sessions() as s:
        media = {
            a.id: a.media_type
            for a in await s.scalars(select(Attachment).where(Attachment.id.in_(linked)))
        }
    assert [media[i] for i in linked] == ["image/jpeg", "application/pdf", "image/jpeg"]
