"""End to end, the staff supergroup's later rules (issue 8's leftovers): the relay costs a
conversation with the bot nothing, staff writing take a conversation over, the pinned card
and the topic name follow the conversation, albums from staff arrive as albums, the case
buttons follow the case. The same real bot, desk and local Bot API server as
`test_staff_topics.py` (its fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.adapters import DeskConversations
from desk.services import Desk
from tests.e2e.test_staff_topics import OFFICER, STAFF, Staffed, staffed  # noqa: F401
from testing.waits import wait_for


class CountingConversations:
    """The staff adapter's way to the desk, counting the sessions it opens."""

    def __init__(self, inner: DeskConversations) -> None:
        self.inner = inner
        self.sessions = 0

    @asynccontextmanager
    async def desk(self) -> AsyncIterator[Desk]:
        self.sessions += 1
        async with self.inner.desk() as desk:
            yield desk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_turn_with_the_bot_opens_no_staff_session(staffed: Staffed) -> None:
    server, chat = staffed.server, 7401
    staff = staffed.container.staff
    assert staff is not None
    counting = CountingConversations(staff.conversations)
    staff.conversations = counting  # type: ignore[assignment]

    server.user_sends_text(chat, "/start")
    await server.wait_for_messages(chat, 1, timeout=10)
    server.user_sends_text(chat, "/help")
    await server.wait_for_messages(chat, 2, timeout=10)
    server.user_sends_text(chat, "随便说说")  # one fallback: still with the bot
    await server.wait_for_messages(chat, 3, timeout=10)
    assert counting.sessions == 0  # three turns with the bot: the relay was never asked

    await staffed.hand_over(chat)  # the hand-over turn itself goes to the topic
    handed = counting.sessions
    assert handed >= 1
    server.user_sends_text(chat, "在吗")
    thread = await staffed.alerted_topic(chat)
    await wait_for(lambda: any(m.text == "在吗" for m in server.in_topic(STAFF, thread)), 10)
    assert counting.sessions > handed  # with staff, each message is relayed
