"""Hand-over replies and flips (issue 8): 转人工 and two fallbacks in a row hand the
conversation to staff (a complaint is recorded for a supervisor instead, issue 9); the reply
promises a person only when a staff chat exists, and out of office hours says when staff
answer; in both scripts. Idle timeout: the bot answers again."""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.ports import Handoff
from actions.stores import InMemoryTrackerStore
from testing.dialogue import (
    FAKE_OFFICE_HOURS,
    Chat,
    FakeGateway,
    FakeInterpreter,
    FakeNormalizers,
    parse,
    text_of,
)

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 10, 1)  # 国庆节
BEIJING = ZoneInfo("Asia/Shanghai")
AFTER_THE_HOLIDAY = datetime(2026, 10, 8, 9, 0, tzinfo=BEIJING)  # a Thursday

NLU = {
    "你们办事效率太低了，我要投诉": parse("complaint"),
    "你們辦事效率太低了，我要投訴": parse("complaint"),
    "你好": parse("greet"),
}


def make(handoff: Handoff | None = None) -> tuple[DialogueEngine, FakeGateway]:
    gw = FakeGateway(lambda: TODAY)
    if handoff is not None:
        gw.handoff = handoff
    engine = DialogueEngine(
        FakeInterpreter(NLU),
        gw,
        InMemoryTrackerStore(),
        Domain.load(ROOT / "data"),
        today=lambda: TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(3),
    )
    return engine, gw


def handoff(*, staff_chat: bool, open_now: bool) -> Handoff:
    return Handoff(
        staff_chat=staff_chat,
        open_now=open_now,
        next_opening=None if open_now else AFTER_THE_HOLIDAY,
        hours=FAKE_OFFICE_HOURS,
    )


PROMISES = ("转接", "已为您", "请稍候")  # what only a staff chat can stand behind


async def test_no_staff_chat_open_promises_no_transfer() -> None:
    engine, gw = make(handoff(staff_chat=False, open_now=True))
    text = text_of(await Chat(engine).say("转人工"))
    assert "工作人员会在办公时间内在这里回复您" in text
    assert "消息都会保留" in text and FAKE_OFFICE_HOURS in text
    assert not any(p in text for p in PROMISES)
    assert [c[1] for c in gw.called("hand_over")] == ["request_human"]


async def test_no_staff_chat_closed_says_when() -> None:
    engine, _ = make(handoff(staff_chat=False, open_now=False))
    text = text_of(await Chat(engine).say("转人工"))
    assert "非办公时间" in text and "最早于 10月8日（周四）9:00 起" in text
    assert "消息都会保留" in text
    assert not any(p in text for p in PROMISES)


async def test_staff_chat_open_says_a_person_was_asked() -> None:
    engine, _ = make(handoff(staff_chat=True, open_now=True))
    text = text_of(await Chat(engine).say("转人工"))
    assert text.startswith("已请工作人员在这里回复您")
    assert "非办公时间" not in text


async def test_staff_chat_closed_says_when() -> None:
    engine, _ = make(handoff(staff_chat=True, open_now=False))
    text = text_of(await Chat(engine).say("/request_human"))
    assert text.startswith("已请工作人员回复您")
    assert "非办公时间" in text and "10月8日（周四）9:00" in text


@pytest.mark.parametrize("staff_chat", [False, True])
async def test_traditional_replies(staff_chat: bool) -> None:
    engine, _ = make(handoff(staff_chat=staff_chat, open_now=False))
    text = text_of(await Chat(engine).say("轉人工"))
    assert "非辦公時間" in text and "10月8日" in text and "9:00" in text
    assert ("已請工作人員" in text) is staff_chat
    assert "辦公时间" not in text and "时间" not in text  # fully converted


async def test_a_complaint_is_recorded_not_a_silent_hand_over() -> None:
    """Issue 9 point 4: a complaint is a supervisor follow-up; the bot says who answers and
    by when and keeps answering (a person is one button away)."""
    engine, gw = make(handoff(staff_chat=True, open_now=True))
    chat = Chat(engine)
    replies = await chat.say("你们办事效率太低了，我要投诉")
    text = text_of(replies)
    assert text.startswith("很抱歉给您带来不便") and "负责人" in text and "答复您" in text
    assert [c[1] for c in gw.called("record_complaint")] == ["你们办事效率太低了，我要投诉"]
    assert gw.called("hand_over") == []
    assert "/request_human" in [b.payload for r in replies for row in r.buttons for b in row]
    assert (await chat.tracker()).state == "bot"
    assert "您好" in text_of(await chat.say("你好"))  # the bot goes on


async def test_complaint_in_traditional() -> None:
    engine, _ = make()
    text = text_of(await Chat(engine).say("你們辦事效率太低了，我要投訴"))
    assert text.startswith("很抱歉給您帶來不便") and "負責人" in text


async def test_complaint_inside_a_form_keeps_the_form() -> None:
    engine, gw = make()
    chat = Chat(engine)
    await chat.say("/request_correction")
    text = text_of(await chat.say("你们办事效率太低了，我要投诉"))
    assert "很抱歉" in text and len(gw.called("record_complaint")) == 1
    assert gw.called("hand_over") == []
    assert text.rstrip().endswith("（例如：增值税 2020年3月）")  # the form's question again
    assert (await chat.tracker()).active_form == "return_correction"


async def test_two_fallbacks_in_a_row_flip_with_the_honest_reply() -> None:
    engine, gw = make(handoff(staff_chat=False, open_now=False))
    chat = Chat(engine)
    await chat.say("呃呃呃")
    text = text_of(await chat.say("啊这个那个"))
    assert "交由工作人员处理" in text and "10月8日（周四）9:00" in text
    assert not any(p in text for p in PROMISES)
    assert [c[1] for c in gw.called("hand_over")] == ["fallback"]


async def test_idle_timeout_at_the_desk_lets_the_bot_answer_again() -> None:
    engine, gw = make()
    chat = Chat(engine)
    await chat.say("转人工")
    assert await chat.say("你好") == []
    gw.states["telegram:100"] = "bot"  # the desk's idle sweep gave it back
    assert "您好" in text_of(await chat.say("你好"))
    assert (await chat.tracker()).state == "bot"
