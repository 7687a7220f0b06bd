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
from testing.staff_group import (
    LI,
    OFFICER,
    STAFF,
    Staffed,
    case_announcement,
    case_detail,
    submitted_case,
    topic_says,
)
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


async def test_a_staff_message_to_a_conversation_with_the_bot_takes_it_over(
    staffed: Staffed,
) -> None:
    server, chat = staffed.server, 7402
    await staffed.add_officer()
    number = await submitted_case(staffed, chat)  # the announcement makes the topic
    announced = await wait_for(
        lambda: next(
            (m for m in server.sent_messages(STAFF) if f"新案件 {number}" in (m.text or "")), None
        ),
        10,
    )
    thread = announced.message["message_thread_id"]
    assert await staffed.state(chat) == "bot"

    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, "您好，您的完税证明我来办", user=OFFICER, thread_id=thread)
    got = await server.wait_for_messages(chat, before + 2, timeout=10)
    assert [m.text for m in got[before : before + 2]] == [
        "工作人员王科员为您服务，请直接在这里回复。",
        "您好，您的完税证明我来办",
    ]
    assert await staffed.state(chat) == "human"
    told = await wait_for(
        lambda: [m for m in server.in_topic(STAFF, thread) if "您已接管本会话" in (m.text or "")],
        10,
    )
    assert len(told) == 1
    card = server.in_topic(STAFF, thread)[0]
    await wait_for(lambda: "人工服务中" in (card.message.get("text") or ""), 10)

    # the bot is quiet now, and the taxpayer's answer reaches the topic
    server.user_sends_text(chat, "好的，谢谢")
    await wait_for(lambda: any(m.text == "好的，谢谢" for m in server.in_topic(STAFF, thread)), 10)
    assert len(server.sent_messages(chat)) == before + 2

    # a second message is relayed without a second take-over notice
    server.user_sends_text(STAFF, "稍等", user=OFFICER, thread_id=thread)
    got = await server.wait_for_messages(chat, before + 3, timeout=10)
    assert got[-1].text == "稍等"
    assert sum("您已接管" in (m.text or "") for m in server.in_topic(STAFF, thread)) == 1


async def test_a_note_to_a_conversation_with_the_bot_takes_nothing_over(staffed: Staffed) -> None:
    server, chat = staffed.server, 7403
    await staffed.add_officer()
    number = await submitted_case(staffed, chat)
    announced = await wait_for(
        lambda: next(
            (m for m in server.sent_messages(STAFF) if f"新案件 {number}" in (m.text or "")), None
        ),
        10,
    )
    thread = announced.message["message_thread_id"]
    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, "/note 先看看材料", user=OFFICER, thread_id=thread)
    server.user_sends_text(STAFF, "/queue", user=OFFICER, thread_id=thread)
    await wait_for(
        lambda: any("案件队列" in (m.text or "") for m in server.in_topic(STAFF, thread)), 10
    )
    assert await staffed.state(chat) == "bot"
    assert len(server.sent_messages(chat)) == before


async def test_the_case_buttons_follow_the_case(staffed: Staffed) -> None:
    server, chat = staffed.server, 7404
    await staffed.add_officer("王科员", 5001)
    await staffed.add_officer("李科员", 5002)
    number = await submitted_case(staffed, chat)
    card = await case_announcement(staffed, number)
    thread = card.message["message_thread_id"]
    assert card.button_data() == [f"sc:claim:{number}"]  # queued: a claim, nothing else

    server.user_presses(STAFF, card.message_id, f"sc:claim:{number}", user=OFFICER)
    claimed = [f"sc:{a}:{number}" for a in ("release", "ask", "complete", "reject")]
    await wait_for(lambda: card.button_data() == claimed, 10)

    # a text step by button: checked (a colleague is refused, saying who has it) ...
    server.user_presses(STAFF, card.message_id, f"sc:complete:{number}", user=LI)
    await wait_for(lambda: len(server.answered_callbacks) == 2, 10)
    assert "王科员" in server.answered_callbacks[1]["text"]
    # ... and the assignee is shown the command to type, with the number filled in
    server.user_presses(STAFF, card.message_id, f"sc:complete:{number}", user=OFFICER)
    await topic_says(staffed, thread, f"请发送：/complete {number} 办结说明")
    assert (await case_detail(staffed, number)).case.status == "in_progress"

    # asked: waiting for the taxpayer, no completion button (the state does not allow it)
    server.user_sends_text(STAFF, f"/ask {number} 需要哪一年的？", user=OFFICER, thread_id=thread)
    await topic_says(staffed, thread, "已向纳税人发出补充询问")
    server.user_presses(STAFF, card.message_id, f"sc:ask:{number}", user=OFFICER)
    await wait_for(
        lambda: card.button_data() == [f"sc:{a}:{number}" for a in ("ask", "reject")], 10
    )

    # closed by command: the next press is refused and the buttons go away
    server.user_sends_text(STAFF, f"/reject {number} 重复申请", user=OFFICER, thread_id=thread)
    await topic_says(staffed, thread, "已退回，已通知纳税人")
    server.user_presses(STAFF, card.message_id, f"sc:reject:{number}", user=OFFICER)
    await wait_for(lambda: card.button_data() == [], 10)
    assert "不能" in server.answered_callbacks[-1]["text"]


async def test_the_card_and_the_topic_name_follow_the_conversation(staffed: Staffed) -> None:
    server, chat = staffed.server, 7405
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    card = server.in_topic(STAFF, thread)[0]
    assert "最近意图" in (card.text or "") and "转人工" in (card.text or "")
    assert staffed.topics()[thread] == f"User{chat}"

    number = await submitted_case(staffed, chat)
    await wait_for(lambda: staffed.topics().get(thread) == f"User{chat} · {number}", 10)
    await wait_for(lambda: number in (card.message.get("text") or ""), 10)

    server.user_presses(
        STAFF,
        (await case_announcement(staffed, number)).message_id,
        f"sc:claim:{number}",
        user=OFFICER,
    )
    await topic_says(staffed, thread, "王科员：案件")
    server.user_sends_text(STAFF, f"/complete {number} 已开具", user=OFFICER, thread_id=thread)
    await topic_says(staffed, thread, "已办结")
    await wait_for(lambda: staffed.topics().get(thread) == f"User{chat}", 10)
    assert list(staffed.topics()) == [thread]  # renamed, not recreated


async def test_an_album_from_staff_reaches_the_taxpayer_as_one_album(staffed: Staffed) -> None:
    from testing.samples import make_jpeg, make_pdf

    server, chat = staffed.server, 7406
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    before = len(server.sent_messages(chat))
    sent = server.user_sends_album(
        STAFF,
        [make_jpeg(), make_jpeg(), make_jpeg()],
        caption="三张示例",
        user=OFFICER,
        thread_id=thread,
    )
    server.user_sends_text(STAFF, "以上是示例", user=OFFICER, thread_id=thread)
    got = await server.wait_for_messages(chat, before + 4, timeout=15)
    album, after = got[before : before + 3], got[before + 3]
    assert [m.method for m in album] == ["copyMessages"] * 3  # one call, one album
    assert len({m.message["media_group_id"] for m in album}) == 1
    assert all("photo" in m.message for m in album) and album[0].text == "三张示例"
    assert after.text == "以上是示例"  # the text written after the album comes after it

    # a quote of an album item on the taxpayer's side follows to the staff original
    server.user_sends_text(chat, "第二张看不清", reply_to=album[1].message_id)
    quoted = await wait_for(
        lambda: next(
            (m for m in server.in_topic(STAFF, thread) if m.text == "第二张看不清"), None
        ),
        10,
    )
    assert quoted.message["reply_to_message"]["message_id"] == sent[1]["message"]["message_id"]

    # an album captioned /note stays in the group
    server.user_sends_album(
        STAFF, [make_jpeg(), make_pdf()], caption="/note 内部材料", user=OFFICER, thread_id=thread
    )
    server.user_sends_text(STAFF, "好的", user=OFFICER, thread_id=thread)
    got = await server.wait_for_messages(chat, before + 5, timeout=15)
    assert got[-1].text == "好的" and len(got) == before + 5
