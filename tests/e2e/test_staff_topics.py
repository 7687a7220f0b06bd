"""End to end: the staff supergroup. The real bot (polling) against the local Bot API server
with a forum-enabled staff group, the real dialogue engine (scripted NLU; 转人工 is a
shortcut), the real desk on SQLite and PostgreSQL, the outbox workers for the taxpayers and
for the staff group."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time
from typing import Any

import pytest

from testing.samples import GOOD_ID, make_jpeg, make_pdf
from testing.staff_group import (
    LI,
    OFFICER,
    STAFF,
    STRANGER,
    Staffed,
    TickingClock,
    case_announcement,
    case_detail,
    submitted_case,
    topic_says,
)
from testing.waits import holds, wait_for


async def test_handoff_both_ways_with_text_and_photo_note_and_bot(staffed: Staffed) -> None:
    server, chat = staffed.server, 7101
    await staffed.add_officer()
    server.user_sends_text(chat, "/start")
    await server.wait_for_messages(chat, 1)
    await holds(lambda: not server.topics[STAFF], 0.3, message="/start made a topic")

    thread = await staffed.hand_over(chat)
    assert await staffed.state(chat) == "human"
    pinned = [m for c, m in server.pinned if c == STAFF]
    card = server.in_topic(STAFF, thread)[0]
    assert card.message_id in pinned and "纳税人：User7101" in (card.text or "")
    assert "人工服务中" in (card.text or "")

    # taxpayer -> topic: text and photo (with caption), by copy, not forward
    server.user_sends_text(chat, "我的发票开错了")
    photo = make_jpeg()
    server.user_sends_photo(chat, photo, caption="这是发票照片")
    copies = lambda: [m for m in server.in_topic(STAFF, thread) if m.method == "copyMessage"]  # noqa: E731
    await wait_for(lambda: len(copies()) >= 3, 10)
    texts = [m.text for m in copies()]
    assert "我的发票开错了" in texts and "这是发票照片" in texts
    assert any("photo" in m.message for m in copies())
    assert all("forward_origin" not in m.message for m in copies())

    # topic -> taxpayer: text and photo; /note stays inside
    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, "您好，请把正确的抬头发给我", user=OFFICER, thread_id=thread)
    server.user_sends_text(STAFF, "/note 这位纳税人上周来过", user=OFFICER, thread_id=thread)
    server.user_sends_photo(
        STAFF, make_jpeg(), caption="/note 上周来过的照片", user=OFFICER, thread_id=thread
    )
    server.user_sends_photo(STAFF, make_jpeg(), caption="示例", user=OFFICER, thread_id=thread)
    got = await server.wait_for_messages(chat, before + 2, timeout=10)
    new = got[before:]
    assert [m.text for m in new[:2]] == ["您好，请把正确的抬头发给我", "示例"]
    assert "photo" in new[1].message
    await holds(
        lambda: all("上周来过" not in (m.text or "") for m in server.sent_messages(chat)), 0.5
    )

    # /bot: back to the bot, the taxpayer is told
    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, "/bot", user=OFFICER, thread_id=thread)
    told = await server.wait_for_messages(chat, before + 1, timeout=10)
    assert "智能助手" in (told[before].text or "")
    assert await staffed.state(chat) == "bot"
    await wait_for(lambda: "智能助手接待中" in (card.message.get("text") or ""), 10)
    relayed = len(copies())
    server.user_sends_text(chat, "你好")
    await server.wait_for_messages(chat, before + 2, timeout=10)
    await holds(lambda: len(copies()) == relayed, 0.3, message="relayed after /bot")


async def test_strangers_are_refused_and_nothing_changes(staffed: Staffed) -> None:
    server, chat = staffed.server, 7102
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, "我来回复一下", user=STRANGER, thread_id=thread)
    server.user_sends_text(STAFF, "/bot", user=STRANGER, thread_id=thread)
    await wait_for(
        lambda: (
            sum("只有已登记的工作人员" in (m.text or "") for m in server.in_topic(STAFF, thread))
            == 2
        ),
        10,
    )
    await holds(lambda: len(server.sent_messages(chat)) == before, 0.3)
    assert await staffed.state(chat) == "human"


@pytest.mark.both_databases
async def test_two_first_messages_at_once_make_one_topic(staffed: Staffed) -> None:
    server, chat = staffed.server, 7103
    # the hand-over and two more messages at once, before any topic exists
    server.user_sends_text(chat, "转人工")
    server.user_sends_text(chat, "在吗")
    server.user_sends_text(chat, "有人吗")
    thread = await staffed.alerted_topic(chat)
    # which of the three the dialogue sees first is up to the scheduler; whatever came from
    # the hand-over on is copied into the one topic
    await wait_for(
        lambda: [m for m in server.in_topic(STAFF, thread) if m.method == "copyMessage"], 10
    )
    assert len(server.calls_of("createForumTopic")) == 1
    assert list(staffed.topics()) == [thread]


async def test_a_topic_deleted_by_hand_is_recreated(staffed: Staffed) -> None:
    server, chat = staffed.server, 7104
    thread = await staffed.hand_over(chat)
    server.delete_topic(STAFF, thread)
    server.user_sends_text(chat, "还在处理吗")
    new = await wait_for(lambda: [t for t in staffed.topics() if t != thread], 10)
    assert len(new) == 1
    await wait_for(lambda: any(m.text == "还在处理吗" for m in server.in_topic(STAFF, new[0])), 10)
    assert len(server.calls_of("createForumTopic")) == 2


@pytest.mark.both_databases
async def test_25_topics_inside_a_minute_none_dropped(staffed: Staffed) -> None:
    server = staffed.server
    server.limit_topics(per_window=20, retry_after=1)
    chats = [7200 + i for i in range(25)]
    for chat in chats:
        server.user_sends_text(chat, "转人工")
    for chat in chats:
        await staffed.alerted_topic(chat, timeout=30)
    assert len(staffed.topics()) == 25
    assert len(server.calls_of("createForumTopic")) > 25  # some were told to wait


async def test_queue_in_general(staffed: Staffed) -> None:
    server = staffed.server
    await staffed.add_officer()
    server.user_sends_text(STAFF, "/queue", user=OFFICER)
    got = await server.wait_for_messages(STAFF, 1, timeout=10)
    assert "案件队列" in (got[-1].text or "")
    server.user_sends_text(STAFF, "/queue", user=STRANGER)
    got = await server.wait_for_messages(STAFF, 2, timeout=10)
    assert "只有已登记的工作人员" in (got[-1].text or "")


@pytest.mark.both_databases
async def test_case_announced_two_claims_at_once_and_a_stranger(staffed: Staffed) -> None:
    server, chat = staffed.server, 7301
    await staffed.add_officer("王科员", 5001)
    await staffed.add_officer("李科员", 5002)
    number = await submitted_case(staffed, chat)

    def announced() -> Any:
        return next(
            (m for m in server.sent_messages(STAFF) if f"新案件 {number}" in (m.text or "")), None
        )

    card = await wait_for(announced, 10)
    thread = card.message["message_thread_id"]
    assert "截止" in (card.text or "") and thread in staffed.topics()
    assert "所属期：2026年10月" in (card.text or "")  # in words, as staff read it
    assert "（未验证：请核对承诺书）" in (card.text or "")  # a chat not verified for the ID
    (claim,) = card.button_data()  # a queued case offers a claim only

    server.user_presses(STAFF, card.message_id, claim, user=STRANGER)
    await wait_for(lambda: len(server.answered_callbacks) == 1, 10)
    assert "只有已登记的工作人员" in server.answered_callbacks[0]["text"]

    server.user_presses(STAFF, card.message_id, claim, user=OFFICER)
    server.user_presses(
        STAFF, card.message_id, claim, user={"id": 5002, "is_bot": False, "first_name": "李"}
    )
    await wait_for(lambda: len(server.answered_callbacks) == 3, 10)
    answers = sorted(a["text"] for a in server.answered_callbacks[1:])
    assert any("已由您认领" in a for a in answers), answers
    assert any("已被" in a and "认领" in a for a in answers), answers
    assert staffed.container.runtime is not None
    async with staffed.container.runtime.sessions() as session:
        detail = await staffed.container.runtime.desk(session).case_detail(number)
    assert detail.case.status == "in_progress"
    assert detail.case.assignee_id is not None


async def test_album_document_and_a_long_caption_reach_the_topic(staffed: Staffed) -> None:
    server, chat = staffed.server, 7105
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    long_caption = "发票抬头应为某某有限公司。" * 100  # 1,300 characters
    server.user_sends_album(chat, [make_jpeg(), make_jpeg()], caption="两张发票")
    server.user_sends_document(chat, make_pdf(), "申请表.pdf", "application/pdf")
    server.user_sends_photo(chat, make_jpeg(), caption=long_caption)

    def copies() -> list[Any]:
        return [m for m in server.in_topic(STAFF, thread) if m.method == "copyMessage"]

    await wait_for(lambda: len(copies()) >= 5, 15)  # 转人工, two album items, pdf, photo
    kinds = [("photo" in m.message, "document" in m.message) for m in copies()]
    assert kinds.count((True, False)) >= 3 and kinds.count((False, True)) == 1
    assert "两张发票" in [m.text for m in copies()]
    cut = next(m for m in copies() if (m.text or "").startswith("发票抬头"))
    rest = await wait_for(
        lambda: [m for m in server.in_topic(STAFF, thread) if "续上条说明" in (m.text or "")], 10
    )
    shown = (cut.text or "") + (rest[0].text or "").removeprefix("（续上条说明）")
    assert shown == long_caption

    # a document from staff reaches the taxpayer
    before = len(server.sent_messages(chat))
    server.user_sends_document(
        STAFF, make_pdf(), "回执.pdf", "application/pdf", user=OFFICER, thread_id=thread
    )
    got = await server.wait_for_messages(chat, before + 1, timeout=10)
    assert got[before].message["document"]["file_name"] == "回执.pdf"


async def test_quote_reply_and_edit_follow_the_mapped_message(staffed: Staffed) -> None:
    server, chat = staffed.server, 7106
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    asked = server.user_sends_text(chat, "税号填错了怎么办")["message"]["message_id"]
    copy = await wait_for(
        lambda: next(
            (m for m in server.in_topic(STAFF, thread) if m.text == "税号填错了怎么办"), None
        ),
        10,
    )
    before = len(server.sent_messages(chat))
    sent = server.user_sends_text(
        STAFF, "可以申请更正", user=OFFICER, thread_id=thread, reply_to=copy.message_id
    )
    got = await server.wait_for_messages(chat, before + 1, timeout=10)
    answer = got[before]
    assert answer.text == "可以申请更正"
    assert answer.message["reply_to_message"]["message_id"] == asked

    server.user_edits_text(STAFF, sent["message"]["message_id"], "可以在线申请更正")
    await wait_for(lambda: answer.message.get("text") == "可以在线申请更正", 10)
    assert answer.edits  # edited in place, not sent again
    assert len(server.sent_messages(chat)) == before + 1

    # the taxpayer edits: the copy in the topic follows
    server.user_edits_text(chat, asked, "税号填错了，怎么更正？")
    await wait_for(lambda: copy.message.get("text") == "税号填错了，怎么更正？", 10)
    assert copy.edits

    # the taxpayer quotes the staff answer: the copy in the topic quotes the staff original
    server.user_sends_text(chat, "好的，谢谢", reply_to=answer.message_id)
    thanks = await wait_for(
        lambda: next((m for m in server.in_topic(STAFF, thread) if m.text == "好的，谢谢"), None),
        10,
    )
    assert thanks.message["reply_to_message"]["message_id"] == sent["message"]["message_id"]


async def test_review_sends_a_misunderstood_message_to_the_studio(staffed: Staffed) -> None:
    """`/review` quoting a taxpayer's message in the topic (or alone: their latest text) puts
    it in the admins' review inbox; a quoted staff message is refused with what to do."""
    server, chat = staffed.server, 7107
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    server.user_sends_text(chat, "门口那个黄线能停吗")
    copy = await wait_for(
        lambda: next(
            (m for m in server.in_topic(STAFF, thread) if m.text == "门口那个黄线能停吗"), None
        ),
        10,
    )
    server.user_sends_text(chat, "还有周末开门吗")
    await wait_for(
        lambda: any(m.text == "还有周末开门吗" for m in server.in_topic(STAFF, thread)), 10
    )

    before = len(server.sent_messages(chat))
    server.user_sends_text(
        STAFF, "/review", user=OFFICER, thread_id=thread, reply_to=copy.message_id
    )
    await topic_says(
        staffed, thread, "已交给管理员复核（训练工作室的复核箱）：「门口那个黄线能停吗」"
    )
    server.user_sends_text(STAFF, "/review", user=OFFICER, thread_id=thread)
    await topic_says(staffed, thread, "：「还有周末开门吗」")
    card = server.in_topic(STAFF, thread)[0]  # the topic card is the bot's, not the taxpayer's
    server.user_sends_text(
        STAFF, "/review", user=OFFICER, thread_id=thread, reply_to=card.message_id
    )
    await topic_says(staffed, thread, "没有找到可交给管理员复核的纳税人文字消息")
    assert len(server.sent_messages(chat)) == before  # the taxpayer sees none of it

    assert staffed.container.runtime is not None
    async with staffed.container.runtime.sessions() as session:
        desk = staffed.container.runtime.desk(session)
        admin = await desk.add_staff("赵管理", "admin")
        inbox = await desk.review_inbox(admin.id)
    assert sorted(i.text for i in inbox) == ["还有周末开门吗", "门口那个黄线能停吗"]
    assert {i.reason for i in inbox} == {"flagged"}


# A working Wednesday, 10:00 in Beijing (02:00 UTC); the digest is due from 08:30.
WEDNESDAY_10H = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
SUNDAY_10H = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "staffed",
    [{"digest": time(8, 30), "clock": TickingClock(WEDNESDAY_10H)}],
    indirect=True,
)
async def test_the_morning_digest_reaches_general_once(staffed: Staffed) -> None:
    """A process started after the digest time on a working day posts it (once) into the
    General topic (no thread), the queue as it was when the digest was written."""
    server = staffed.server
    general = lambda: [  # noqa: E731
        m
        for m in server.sent_messages(STAFF)
        if m.message.get("message_thread_id") is None and "早安" in (m.text or "")
    ]
    await wait_for(lambda: len(general()) == 1, 10, message="the morning digest")
    assert "案件队列：没有待受理" in (general()[0].text or "")  # nothing queued yet
    await submitted_case(staffed, 7301)  # later cases wait for tomorrow's digest or /queue
    await holds(lambda: len(general()) == 1, 0.5, message="a second digest")


@pytest.mark.parametrize(
    "staffed", [{"digest": time(8, 30), "clock": TickingClock(SUNDAY_10H)}], indirect=True
)
async def test_no_digest_on_a_sunday(staffed: Staffed) -> None:
    server = staffed.server
    server.user_sends_text(7302, "/start")
    await server.wait_for_messages(7302, 1)
    await holds(
        lambda: not any("早安" in (m.text or "") for m in server.sent_messages(STAFF)),
        0.5,
        message="a digest on a Sunday",
    )


@pytest.mark.parametrize("staffed", [{"open": False}], indirect=True)
async def test_out_of_hours_the_topic_says_so(staffed: Staffed) -> None:
    server, chat = staffed.server, 7303
    server.user_sends_text(chat, "/start")
    await server.wait_for_messages(chat, 1)
    thread = await staffed.hand_over(chat)
    alert = next(m for m in server.in_topic(STAFF, thread) if "请求人工服务" in (m.text or ""))
    assert "（非办公时间）" in (alert.text or "")

    server.user_sends_text(chat, "晚上打扰了")
    server.user_sends_photo(chat, make_jpeg(), caption="发票照片")
    topic = lambda: server.in_topic(STAFF, thread)  # noqa: E731
    await wait_for(
        lambda: any((m.text or "") == "🌙 上条消息在非办公时间发送" for m in topic()), 10
    )
    await wait_for(lambda: any("发票照片" in (m.text or "") for m in topic()), 10)
    copied_text = next(m for m in topic() if m.text == "晚上打扰了")
    noted = [
        m.message["reply_to_message"]["message_id"]
        for m in topic()
        if m.text == "🌙 上条消息在非办公时间发送"
    ]
    assert copied_text.message_id in noted
    photo = next(m for m in topic() if "发票照片" in (m.text or ""))
    assert photo.text == "🌙非办公时间｜发票照片" and "photo" in photo.message


# ------------------------------------------------------------ case work from the topic


@pytest.mark.both_databases
async def test_case_claimed_asked_answered_and_completed_from_the_topic(
    staffed: Staffed,
) -> None:
    from bot.keyboards import payload_key

    server, chat = staffed.server, 7401
    await staffed.add_officer("王科员", 5001)
    await staffed.add_officer("李科员", 5002)
    number = await submitted_case(staffed, chat)
    card = await case_announcement(staffed, number)
    thread = card.message["message_thread_id"]
    (claim,) = card.button_data()  # a queued case offers a claim only
    server.user_presses(STAFF, card.message_id, claim, user=OFFICER)
    await topic_says(staffed, thread, "王科员：案件")
    assert (await case_detail(staffed, number)).case.status == "in_progress"
    pinned = server.in_topic(STAFF, thread)[0]  # the card follows the case
    await wait_for(lambda: f"{number} 完税证明（办理中" in (pinned.message.get("text") or ""), 10)

    # ask the taxpayer: the question reaches the chat, the case waits for the taxpayer
    before = len(server.sent_messages(chat))
    server.user_sends_text(
        STAFF, f"/ask {number} 请问开具证明的用途是什么？", user=OFFICER, thread_id=thread
    )
    got = await server.wait_for_messages(chat, before + 1, timeout=10)
    assert "请问开具证明的用途是什么？" in (got[before].text or "")
    await topic_says(staffed, thread, "已向纳税人发出补充询问")
    assert (await case_detail(staffed, number)).case.status == "waiting_taxpayer"

    # the taxpayer answers the bot: the answer goes on the case and into the topic
    before = len(server.sent_messages(chat))
    server.user_sends_text(chat, "用于办理银行贷款")
    await server.wait_for_messages(chat, before + 1, timeout=10)
    relayed = await topic_says(staffed, thread, "纳税人回复了补充询问")
    assert number in (relayed.text or "") and "用于办理银行贷款" in (relayed.text or "")
    detail = await case_detail(staffed, number)
    assert detail.case.status == "in_progress"
    answer = [e for e in detail.events if e.action == "answer"]
    assert answer and answer[-1].data["text"] == "用于办理银行贷款"

    # refused: a blank note, and a plain colleague completing a case they did not claim
    server.user_sends_text(STAFF, f"/complete {number}", user=OFFICER, thread_id=thread)
    await topic_says(staffed, thread, "用法：/complete")
    server.user_sends_text(STAFF, f"/complete {number} 已办好", user=LI, thread_id=thread)
    refused = await topic_says(staffed, thread, "只有承办人或主管可以办结")
    assert "王科员" in (refused.text or "")
    assert (await case_detail(staffed, number)).case.status == "in_progress"
    await holds(lambda: len(server.sent_messages(chat)) == before + 1, 0.3)

    # completed from the topic: the notice reaches the taxpayer with its rating buttons
    server.user_sends_text(
        STAFF, f"/complete {number} 证明已开具，请到大厅领取。", user=OFFICER, thread_id=thread
    )
    got = await server.wait_for_messages(chat, before + 2, timeout=10)
    notice = got[before + 1]
    assert number in (notice.text or "") and "证明已开具，请到大厅领取。" in (notice.text or "")
    assert len(notice.button_data()) == 5
    titles = [b["text"] for row in notice.reply_markup["inline_keyboard"] for b in row]
    assert titles[0] == "非常满意"
    await topic_says(staffed, thread, "已办结，已通知纳税人")
    detail = await case_detail(staffed, number)
    assert detail.case.status == "done" and detail.closed_by is not None
    await wait_for(lambda: "未结案件：无" in (pinned.message.get("text") or ""), 10)

    payload = "/rate" + json.dumps(
        {"case_number": number, "level": "satisfied"}, ensure_ascii=False, separators=(",", ":")
    )
    data = f"b:{payload_key(payload)}"
    assert data in notice.button_data()
    server.user_presses(chat, notice.message_id, data)
    await server.wait_for_messages(chat, before + 3, timeout=10)
    rating = (await case_detail(staffed, number)).rating
    assert rating is not None and rating.level == "satisfied"


async def test_release_by_button_and_reject_from_the_topic(staffed: Staffed) -> None:
    server, chat = staffed.server, 7402
    await staffed.add_officer("王科员", 5001)
    await staffed.add_officer("李科员", 5002)
    number = await submitted_case(staffed, chat)
    card = await case_announcement(staffed, number)
    thread = card.message["message_thread_id"]
    (claim,) = card.button_data()
    server.user_presses(STAFF, card.message_id, claim, user=OFFICER)
    await wait_for(lambda: len(server.answered_callbacks) == 1, 10)
    release = f"sc:release:{number}"  # claimed: the buttons follow the case
    await wait_for(lambda: release in card.button_data(), 10)

    # a colleague may not release it; the alert says who has it
    server.user_presses(STAFF, card.message_id, release, user=LI)
    await wait_for(lambda: len(server.answered_callbacks) == 2, 10)
    assert "王科员" in server.answered_callbacks[1]["text"]
    assert (await case_detail(staffed, number)).case.status == "in_progress"

    # the assignee releases it: back in the queue, nobody's
    server.user_presses(STAFF, card.message_id, release, user=OFFICER)
    await wait_for(lambda: len(server.answered_callbacks) == 3, 10)
    assert "放回队列" in server.answered_callbacks[2]["text"]
    detail = await case_detail(staffed, number)
    assert detail.case.status == "queued" and detail.case.assignee_id is None

    # unclaimed: a plain staff member cannot reject it; nothing changes
    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, f"/reject {number} 材料不全", user=LI, thread_id=thread)
    await topic_says(staffed, thread, "还没有人认领")
    assert (await case_detail(staffed, number)).case.status == "queued"

    # claimed again, rejected with a reason: the taxpayer is told the reason
    await wait_for(lambda: card.button_data() == [claim], 10)
    server.user_presses(STAFF, card.message_id, claim, user=LI)
    await wait_for(lambda: len(server.answered_callbacks) == 4, 10)
    server.user_sends_text(
        STAFF, f"/reject {number} 该期间已开具过证明", user=LI, thread_id=thread
    )
    got = await server.wait_for_messages(chat, before + 1, timeout=10)
    assert number in (got[before].text or "") and "该期间已开具过证明" in (got[before].text or "")
    await topic_says(staffed, thread, "已退回，已通知纳税人")
    assert (await case_detail(staffed, number)).case.status == "rejected"


async def test_an_answer_given_while_with_staff_goes_on_the_case(staffed: Staffed) -> None:
    server, chat = staffed.server, 7403
    await staffed.add_officer("王科员", 5001)
    number = await submitted_case(staffed, chat)
    card = await case_announcement(staffed, number)
    thread = card.message["message_thread_id"]
    await staffed.hand_over(chat)
    (claim,) = card.button_data()  # a queued case offers a claim only
    server.user_presses(STAFF, card.message_id, claim, user=OFFICER)
    await topic_says(staffed, thread, "王科员：案件")

    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, f"/ask {number} 需要哪个月的？", user=OFFICER, thread_id=thread)
    await server.wait_for_messages(chat, before + 1, timeout=10)
    await topic_says(staffed, thread, "已向纳税人发出补充询问")
    server.user_sends_text(chat, "十月份的")
    # the bot stays quiet (staff have the conversation); the copy is in the topic, and a
    # line says which case it answered
    await wait_for(
        lambda: [
            m
            for m in server.in_topic(STAFF, thread)
            if m.method == "copyMessage" and m.text == "十月份的"
        ],
        10,
    )
    said = await topic_says(staffed, thread, "纳税人回复了补充询问")
    assert number in (said.text or "") and "十月份的" in (said.text or "")

    async def answered() -> bool:
        return (await case_detail(staffed, number)).case.status == "in_progress"

    await wait_for(answered, 10, message="the answer on the case")
    detail = await case_detail(staffed, number)
    assert detail.case.status == "in_progress"
    assert [e.data["text"] for e in detail.events if e.action == "answer"] == ["十月份的"]
    assert len(server.sent_messages(chat)) == before + 1  # nothing from the bot
    assert await staffed.state(chat) == "human"

    server.user_sends_text(STAFF, f"/complete {number} 已开具。", user=OFFICER, thread_id=thread)
    await topic_says(staffed, thread, "已办结，已通知纳税人")


async def test_code_in_the_topic_stays_with_staff_and_verifies_the_chat(staffed: Staffed) -> None:
    server, chat = staffed.server, 7150
    await staffed.add_officer()
    thread = await staffed.hand_over(chat)
    server.user_sends_text(STAFF, "/code", user=OFFICER, thread_id=thread)
    no_id = await wait_for(
        lambda: next(
            (m for m in server.in_topic(STAFF, thread) if "无法签发验证码" in (m.text or "")),
            None,
        ),
        10,
    )
    assert no_id is not None
    assert staffed.container.runtime is not None
    async with staffed.container.runtime.sessions() as session:
        desk = staffed.container.runtime.desk(session)
        conv = await desk.find_conversation("telegram", str(chat))
        assert conv is not None
        await desk.remember_taxpayer_id(conv.taxpayer_id, GOOD_ID)
    before = len(server.sent_messages(chat))
    server.user_sends_text(STAFF, "/code", user=OFFICER, thread_id=thread)
    issued = await wait_for(
        lambda: next(
            (m for m in server.in_topic(STAFF, thread) if "一次性验证码" in (m.text or "")),
            None,
        ),
        10,
    )
    assert GOOD_ID not in (issued.text or "")
    code = re.search(r"验证码：(\d{8})", issued.text or "")
    assert code is not None
    await holds(lambda: len(server.sent_messages(chat)) == before, 0.3, message="code relayed")
    server.user_sends_text(STAFF, "/bot", user=OFFICER, thread_id=thread)
    await server.wait_for_messages(chat, before + 1, timeout=10)
    server.user_sends_text(chat, f"验证码 {code.group(1)}")
    sent = await server.wait_for_messages(chat, before + 2, timeout=10)
    assert "验证成功" in (sent[-1].text or "")


async def test_complete_with_the_certificate_as_a_document_from_the_topic(
    staffed: Staffed,
) -> None:
    """Staff send the certificate into the topic with the caption `/complete N note`: it is
    checked and stored as the case's produced document and reaches the taxpayer's chat as a
    document after the notice; a bad file is refused and nothing changes."""
    from testing.samples import make_pdf

    server, chat = staffed.server, 7406
    await staffed.add_officer("王科员", 5001)
    number = await submitted_case(staffed, chat)
    card = await case_announcement(staffed, number)
    thread = card.message["message_thread_id"]
    server.user_presses(STAFF, card.message_id, card.button_data()[0], user=OFFICER)
    await topic_says(staffed, thread, "王科员：案件")
    before = len(server.sent_messages(chat))

    server.user_sends_document(
        STAFF,
        b"PK\x03\x04" + b"\0" * 200,
        "证明.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        caption=f"/complete {number} 已开具",
        user=OFFICER,
        thread_id=thread,
    )
    await topic_says(staffed, thread, "暂不支持")
    assert (await case_detail(staffed, number)).case.status == "in_progress"

    pdf = make_pdf()
    server.user_sends_document(
        STAFF,
        pdf,
        "完税证明.pdf",
        "application/pdf",
        caption=f"/complete {number} 已为您开具完税证明。",
        user=OFFICER,
        thread_id=thread,
    )
    await topic_says(staffed, thread, "已通知纳税人并发送办理结果文件")
    got = await server.wait_for_messages(chat, before + 2, timeout=10)
    notice, document = got[before], got[before + 1]
    assert "已为您开具完税证明。" in (notice.text or "") and len(notice.button_data()) == 5
    assert document.method == "sendDocument"
    assert document.message["document"]["file_name"] == "完税证明.pdf"
    assert server.files[document.message["document"]["file_id"]].data.startswith(b"%PDF")
    detail = await case_detail(staffed, number)
    assert detail.case.status == "done"
    (produced,) = [a for a in detail.attachments if a.produced]
    assert produced.original_name == "完税证明.pdf"


async def test_a_page_after_submitting_goes_on_the_case_and_into_the_topic(
    staffed: Staffed,
) -> None:
    """The taxpayer sends a photo after submitting: it goes on that case (event
    `add_attachment`, shown in `cases show`) and the topic is told; withdrawing the queued
    case is told there too."""
    from testing.samples import make_jpeg

    server, chat = staffed.server, 7407
    number = await submitted_case(staffed, chat)
    card = await case_announcement(staffed, number)
    thread = card.message["message_thread_id"]
    before = len(server.sent_messages(chat))
    server.user_sends_photo(chat, make_jpeg())
    got = await server.wait_for_messages(chat, before + 1, timeout=10)
    assert f"补充到案件 {number}" in (got[before].text or "")
    await topic_says(staffed, thread, f"纳税人为案件 {number} 补充了 1 个文件")
    detail = await case_detail(staffed, number)
    assert detail.events[-1].action == "add_attachment" and len(detail.attachments) == 1

    server.user_sends_text(chat, f'/withdraw{{"case_number":"{number}"}}')
    got = await server.wait_for_messages(chat, before + 2, timeout=10)
    assert f"已撤回案件 {number}" in (got[before + 1].text or "")
    await topic_says(staffed, thread, f"纳税人已撤回案件 {number}")
    assert (await case_detail(staffed, number)).case.status == "cancelled"
