"""The staff supergroup for end-to-end tests: its ids, the `Staffed` handle the `staffed`
fixture (tests/e2e/conftest.py) yields (the real bot polling against the local Bot API server
with a forum-enabled staff group, the real desk), office hours and clocks to steer it, and the
steps the tests share (a submitted case, its announcement, words in a topic)."""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from app.container import Container
from desk.calendar import WorkingCalendar
from desk.office_hours import OfficeHours, Session
from testing.botapi_server import BotAPIServer
from testing.samples import GOOD_ID
from testing.waits import wait_for

STAFF = -100777
OFFICER = {"id": 5001, "is_bot": False, "first_name": "王科员"}
STRANGER = {"id": 5999, "is_bot": False, "first_name": "路人"}


@dataclass
class Staffed:
    server: BotAPIServer
    container: Container

    async def add_officer(self, name: str = "王科员", telegram_id: int = 5001) -> int:
        assert self.container.runtime is not None
        async with self.container.runtime.sessions() as session:
            member = await self.container.runtime.desk(session).add_staff(
                name, telegram_user_id=telegram_id
            )
            return member.id

    async def state(self, chat: int) -> str:
        assert self.container.runtime is not None
        async with self.container.runtime.sessions() as session:
            desk = self.container.runtime.desk(session)
            conv = await desk.find_conversation("telegram", str(chat))
            assert conv is not None
            return await desk.conversation_state(conv.id)

    def topics(self) -> dict[int, str]:
        return self.server.live_topics(STAFF)

    async def hand_over(self, chat: int) -> int:
        """The taxpayer asks for a person; returns the topic the alert reached."""
        before = len(self.server.sent_messages(chat))
        self.server.user_sends_text(chat, "转人工")
        await self.server.wait_for_messages(chat, before + 1, timeout=10)
        return await self.alerted_topic(chat)

    async def alerted_topic(self, chat: int, timeout: float = 10) -> int:  # noqa: ASYNC109
        name = f"User{chat}"

        def found() -> int | None:
            for thread, topic in self.server.topics[STAFF].items():
                if topic["name"].startswith(name) and not topic["deleted"]:
                    if any(
                        "请求人工服务" in (m.text or "")
                        for m in self.server.in_topic(STAFF, thread)
                    ):
                        return thread
            return None

        return await wait_for(found, timeout, message=f"handoff alert of {chat}")


class FixedHours(OfficeHours):
    """Office hours that are always open, or always closed."""

    def __init__(self, calendar: WorkingCalendar, *, is_open: bool) -> None:
        super().__init__([Session(time(0, 0), time(23, 59))], calendar)
        self.open = is_open

    def is_open(self, at: datetime) -> bool:
        return self.open


class TickingClock:
    """The desk's clock from a given moment on, moving with real time."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.began = time_module.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time_module.monotonic() - self.began)


async def submitted_case(staffed: Staffed, chat: int) -> str:
    """A tax-certificate case submitted in `chat` through the dialogue's gateway."""
    from actions.ports import Requester

    staffed.server.user_sends_text(chat, "/start")
    await staffed.server.wait_for_messages(chat, 1)
    gateway = staffed.container.engine.gateway  # type: ignore[attr-defined]
    requester = Requester("telegram", str(chat), str(chat))
    number = await gateway.open_draft(
        requester, "tax_certificate", {"tax_period": "2026-10", "taxpayer_id": GOOD_ID}
    )
    await gateway.submit(number)
    return str(number)


LI = {"id": 5002, "is_bot": False, "first_name": "李科员"}


async def case_detail(staffed: Staffed, number: str) -> Any:
    assert staffed.container.runtime is not None
    async with staffed.container.runtime.sessions() as session:
        return await staffed.container.runtime.desk(session).case_detail(number)


async def case_announcement(staffed: Staffed, number: str) -> Any:
    return await wait_for(
        lambda: next(
            (
                m
                for m in staffed.server.sent_messages(STAFF)
                if f"新案件 {number}" in (m.text or "")
            ),
            None,
        ),
        10,
        message=f"announcement of {number}",
    )


async def topic_says(staffed: Staffed, thread: int, words: str) -> Any:
    return await wait_for(
        lambda: next(
            (m for m in staffed.server.in_topic(STAFF, thread) if words in (m.text or "")), None
        ),
        10,
        message=f"{words!r} in topic {thread}",
    )
