"""The desk adapters on their own (SQLite): inbound idempotency, file intake limits, the
gateway's ownership checks and error mapping, the tracker store, the download limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from actions.ports import GatewayError, Requester
from actions.tracker import Tracker
from app.adapters import (
    DeskCaseGateway,
    DeskConversations,
    DeskFileIntake,
    DeskInboundStore,
    DeskTrackerStore,
)
from app.container import download_limit
from app.settings import Settings
from desk.migrate import upgrade
from desk.runtime import DeskRuntime
from intake.documents import DocumentRejected
from testing.samples import GOOD_ID, make_jpeg, make_pdf

ALICE = Requester("telegram", "101", "101")
BOB = Requester("telegram", "202", "202")


@pytest.fixture
async def conversations(tmp_path: Path) -> AsyncIterator[DeskConversations]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    runtime = await asyncio.to_thread(DeskRuntime.create, url)
    try:
        yield DeskConversations(runtime)
    finally:
        await runtime.close()


async def test_inbound_store_is_idempotent_on_update_id(conversations: DeskConversations) -> None:
    store = DeskInboundStore(conversations)
    raw = {
        "update_id": 5,
        "message": {
            "message_id": 9,
            "chat": {"id": 101, "type": "private"},
            "from": {"first_name": "A"},
        },
    }
    assert await store.record_update("telegram", 5, "101", "101", "你好", raw) is True
    assert await store.record_update("telegram", 5, "101", "101", "你好", raw) is False
    assert await store.record_update("telegram", 6, "101", "101", "再来", raw) is True


async def test_file_intake_stores_checked_bytes_and_thumbnail(
    conversations: DeskConversations, tmp_path: Path
) -> None:
    intake = DeskFileIntake(conversations, tmp_path / "var")
    photo = await intake.accept(make_jpeg(), "IMG_1.jpg", "image/jpeg")
    assert photo.media_type == "image/jpeg" and photo.attachment_id > 0
    small = DeskFileIntake(conversations, tmp_path / "var", max_bytes=100)
    with pytest.raises(DocumentRejected) as refused:
        await small.accept(make_pdf(), "a.pdf", "application/pdf")
    assert "超过" in refused.value.user_message


async def test_gateway_keeps_cases_to_their_taxpayer(conversations: DeskConversations) -> None:
    gateway = DeskCaseGateway(conversations)
    number = await gateway.open_draft(
        ALICE, "tax_certificate", {"tax_period": "2023", "taxpayer_id": GOOD_ID}
    )
    submitted = await gateway.submit(number)
    assert submitted.number == number
    (mine,) = await gateway.list_cases(ALICE, taxpayer_id=None)
    assert (mine.number, mine.status) == (number, "queued")
    assert await gateway.list_cases(BOB, taxpayer_id=None) == []
    with pytest.raises(GatewayError) as err:
        await gateway.rate(BOB, number, "satisfied", taxpayer_id=None)
    assert err.value.user_message  # the desk's Chinese "not found"
    with pytest.raises(GatewayError):  # not closed yet: the desk's reason, in Chinese
        await gateway.rate(ALICE, number, "satisfied", taxpayer_id=None)
    assert await gateway.conversation_state(ALICE) == "bot"
    await gateway.hand_over(ALICE, "request_human")
    assert await gateway.conversation_state(ALICE) == "human"


async def test_gateway_turns_desk_errors_into_user_messages(
    conversations: DeskConversations,
) -> None:
    gateway = DeskCaseGateway(conversations)
    number = await gateway.open_draft(ALICE, "return_correction", {"taxpayer_id": GOOD_ID})
    with pytest.raises(GatewayError) as err:
        await gateway.submit(number)  # slots and the commitment letter are missing
    assert err.value.user_message
    await gateway.cancel(number, requester=ALICE)
    await gateway.cancel(number, requester=ALICE)  # already cancelled: nothing to do
    number = await gateway.open_draft(ALICE, "return_correction", {"taxpayer_id": GOOD_ID})
    with pytest.raises(GatewayError):  # not bob's to cancel
        await gateway.cancel(number, requester=BOB)


async def test_tracker_store_uses_the_conversation_row(conversations: DeskConversations) -> None:
    store = DeskTrackerStore(conversations)
    assert await store.load("telegram:303") is None
    tracker = Tracker("telegram:303", channel="telegram", chat_id="303", user_id="303")
    tracker.slots["tax_type"] = "vat"
    await store.save(tracker)
    fresh = DeskTrackerStore(DeskConversations(conversations.runtime))  # a new process
    loaded = await fresh.load("telegram:303")
    assert loaded is not None and loaded.slots == {"tax_type": "vat"}


def test_download_limit_follows_the_bot_api_server() -> None:
    official = Settings(_env_file=None)  # type: ignore[call-arg]
    local = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_api_url="http://127.0.0.1:8081",
        telegram_api_local=True,
    )
    assert download_limit(official) == 20 * 1024 * 1024
    assert download_limit(local) == 2000 * 1024 * 1024


async def test_only_private_chats_become_conversations(conversations: DeskConversations) -> None:
    store = DeskInboundStore(conversations)
    group = {"message": {"message_id": 1, "chat": {"id": -100, "type": "supergroup"}}}
    assert await store.record_update("telegram", 7, "-100", "55", "hi", group)
    async with conversations.desk() as desk:
        assert await conversations.find(desk, "telegram", "-100") is None
    private = {
        "callback_query": {
            "from": {"id": 101, "first_name": "A"},
            "message": {"message_id": 3, "chat": {"id": 101, "type": "private"}},
        }
    }
    assert await store.record_update("telegram", 8, "101", "101", "/submit_case", private)
    assert not await store.record_update("telegram", 8, "101", "101", "/submit_case", private)


@pytest.mark.parametrize("staff_chat", [False, True])
async def test_hand_over_answers_staff_chat_and_office_hours(
    conversations: DeskConversations, staff_chat: bool
) -> None:
    runtime = conversations.runtime
    gateway = DeskCaseGateway(conversations, staff_chat=staff_chat)
    # 国庆节 2026-10-01 10:00 Beijing: closed until Thursday 10-08 09:00
    runtime.clock = lambda: datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    handoff = await gateway.hand_over(ALICE, "request_human")
    assert await gateway.conversation_state(ALICE) == "human"
    assert (handoff.staff_chat, handoff.open_now) == (staff_chat, False)
    assert handoff.next_opening is not None
    assert (handoff.next_opening.date(), handoff.next_opening.hour) == (date(2026, 10, 8), 9)
    assert handoff.next_opening.utcoffset() == timedelta(hours=8)
    assert handoff.hours == runtime.hours().describe()
    # the 调休 working Saturday 2026-10-10, 10:00 Beijing: open
    runtime.clock = lambda: datetime(2026, 10, 10, 2, 0, tzinfo=UTC)
    handoff = await gateway.hand_over(BOB, "complaint")
    assert (handoff.open_now, handoff.next_opening) == (True, None)


def test_staff_chat_and_idle_minutes_settings() -> None:
    settings = Settings(_env_file=None, STAFF_CHAT_ID="-1001234567890", HANDOFF_IDLE_MINUTES="5")  # type: ignore[call-arg]
    assert settings.staff_chat_id == -1001234567890
    assert settings.handoff_idle_minutes == 5
    defaults = Settings(_env_file=None, staff_chat_id=None)  # type: ignore[call-arg]
    assert defaults.handoff_idle_minutes == 30
    with pytest.raises(ValueError):
        Settings(_env_file=None, HANDOFF_IDLE_MINUTES="0")  # type: ignore[call-arg]


def test_staff_digest_time_setting() -> None:
    from datetime import time

    assert Settings(_env_file=None).staff_digest_time == time(8, 30)  # type: ignore[call-arg]
    given = Settings(_env_file=None, STAFF_DIGEST_TIME="07:45")  # type: ignore[call-arg]
    assert given.staff_digest_time == time(7, 45)
    for off in ("off", ""):
        unset = Settings(_env_file=None, STAFF_DIGEST_TIME=off)  # type: ignore[call-arg]
        assert unset.staff_digest_time is None
    with pytest.raises(ValueError):
        Settings(_env_file=None, STAFF_DIGEST_TIME="25:00")  # type: ignore[call-arg]
