"""Periods in the dialogue, through the real trained NLU and normalisers, with a fixed today
(issue 9 point 3): the four messages the issue quotes, refusals with their reason while the
rest of the message is kept, ranges where the case type takes them, the period echoed in
words before submitting — in both scripts."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import InMemoryTrackerStore
from actions.validation import NluNormalizers
from testing.dialogue import Chat, FakeGateway, text_of

ROOT = Path(__file__).resolve().parents[2]
DEC_1 = date(2026, 12, 1)
JAN_15 = date(2027, 1, 15)
ID = "91650100MA78ABCD1A"


@pytest.fixture
def make_chat(interpreter: Any) -> Any:
    """A chat with the dialogue as `main.py shell` runs it, on a fixed day."""

    def make(today: date = DEC_1, chat_id: str = "1") -> tuple[Chat, FakeGateway]:
        gateway = FakeGateway(lambda: today)
        engine = DialogueEngine(
            interpreter,
            gateway,
            InMemoryTrackerStore(),
            Domain.load(ROOT / "data"),
            today=lambda: today,
            normalizers=NluNormalizers(lambda: today),
            rng=random.Random(3),
        )
        return Chat(engine, chat_id), gateway

    return make


async def _slots(chat: Chat) -> dict[str, Any]:
    tracker = await chat.tracker()
    return {k: v for k, v in tracker.slots.items() if v and k != "requested_slot"}


# ----------------------------------------------------------------------------- the four


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("12月的增值税申报表要更正一下", "所属期 2025年12月"),
        ("12月的增值稅申報表要更正一下", "所屬期 2025年12月"),
    ],
)
async def test_december_in_december_is_last_december_and_is_echoed(
    make_chat: Any, text: str, said: str
) -> None:
    chat, _ = make_chat()
    replies = text_of(await chat.say(text))
    assert said in replies
    assert "“12月”按2025年12月" in replies and "如不对" in replies.replace("不對", "不对")
    assert await _slots(chat) == {
        "case_type": "return_correction",
        "tax_type": "vat",
        "tax_period": "2025-12",
    }


async def test_december_in_january_is_the_december_just_ended(make_chat: Any) -> None:
    chat, _ = make_chat(JAN_15)
    assert "所属期 2026年12月" in text_of(await chat.say("12月的增值税申报表要更正一下"))
    assert (await _slots(chat))["tax_period"] == "2026-12"


@pytest.mark.parametrize(
    "text",
    [
        f"2025年Q3的增值税要更正 {ID}",
        f"25年3季度增值税申报更正，代码{ID}",
        f"25年3季度增值稅申報更正，代碼{ID}",
        f"二〇二五年第三季度的增值稅申報錯了 要更正 {ID}",
    ],
)
async def test_quarters_keep_the_id_and_tax_type(make_chat: Any, text: str) -> None:
    chat, _ = make_chat()
    replies = text_of(await chat.say(text))
    assert "2025年第三季度" in replies and "9165****D1A" in replies
    assert await _slots(chat) == {
        "case_type": "return_correction",
        "tax_type": "vat",
        "tax_period": "2025-Q3",
        "taxpayer_id": ID,
    }
    assert "承诺书" in replies or "承諾書" in replies


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"2025年13月增值税更正 {ID}", "没有13月，月份应在1到12之间"),
        (f"2025年13月增值稅更正 {ID}", "沒有13月，月份應在1到12之間"),
    ],
)
async def test_month_13_is_refused_and_the_rest_is_kept(
    make_chat: Any, text: str, reason: str
) -> None:
    chat, _ = make_chat()
    replies = text_of(await chat.say(text))
    assert reason in replies
    tracker = await chat.tracker()
    assert tracker.requested_slot == "tax_period"
    assert await _slots(chat) == {
        "case_type": "return_correction",
        "tax_type": "vat",
        "taxpayer_id": ID,
    }
    replies = text_of(await chat.say("2025年3月"))
    assert "承诺书" in replies or "承諾書" in replies
    assert (await _slots(chat))["tax_period"] == "2025-03"


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("2027年3月", "2027年3月还没有到，还不能申报或更正"),
        ("本月", "2026年12月还没有结束，2027年1月1日起才能申报或更正"),
        ("2026年12月", "2026年12月还没有结束"),
        ("2025年", "增值税按月或按季申报"),
        ("2023年到2025年", "「申报更正」一次只能办理一个所属期"),
        ("2025年上半年", "增值税按月或按季申报"),
    ],
)
async def test_refused_periods_say_why_and_the_form_asks_again(
    make_chat: Any, answer: str, reason: str
) -> None:
    chat, _ = make_chat()
    await chat.say("我要更正增值税申报")
    replies = text_of(await chat.say(answer))
    assert reason in replies
    tracker = await chat.tracker()
    assert tracker.get_slot("tax_period") is None and tracker.get_slot("tax_type") == "vat"
    assert tracker.requested_slot == "tax_period"
    assert "按2026年第三季度" in text_of(await chat.say("三季度"))  # Q3 2026 has ended
    assert (await _slots(chat))["tax_period"] == "2026-Q3"


async def test_a_yearly_period_suits_the_corporate_income_tax(make_chat: Any) -> None:
    chat, _ = make_chat()
    replies = text_of(await chat.say(f"2025年度企业所得税汇算清缴申报要更正 {ID}"))
    assert "2025年" in replies and "按月" not in replies
    assert (await _slots(chat))["tax_period"] == "2025"


async def test_a_period_kept_from_another_case_type_is_checked_again(make_chat: Any) -> None:
    chat, _ = make_chat()
    await chat.say("开近三年的完税证明")
    assert (await _slots(chat))["tax_period"] == "2023..2025"
    replies = text_of(await chat.press('/choose_case_type{"case_type": "return_correction"}'))
    assert "一次只能办理一个所属期" in replies
    assert "tax_period" not in await _slots(chat)


# ----------------------------------------------------------------------------- ranges, summary


@pytest.mark.parametrize(
    ("text", "stored", "words"),
    [
        ("开近三年的完税证明", "2023..2025", "所属期 2023年至2025年"),
        ("開2023年到2025年的完稅證明", "2023..2025", "所屬期 2023年至2025年"),
        ("要2024年1月至3月的完税证明", "2024-01..2024-03", "所属期 2024年1月至3月"),
        ("完税证明 2025年上半年", "2025-H1", "所属期 2025年上半年"),
    ],
)
async def test_a_certificate_takes_a_range_and_the_summary_says_it_in_words(
    make_chat: Any, text: str, stored: str, words: str
) -> None:
    chat, gateway = make_chat()
    await chat.say(text)
    assert (await _slots(chat))["tax_period"] == stored
    confirm = text_of(await chat.say(ID))
    assert words in confirm
    assert "确认提交" in confirm or "確認提交" in confirm
    assert "TX-" in text_of(await chat.press("/submit_case"))
    (args,) = gateway.called("open_draft")
    assert args[2]["tax_period"] == stored  # the desk gets the canonical form


@pytest.mark.parametrize(
    ("text", "reason", "kept"),
    [
        ("车船税3月的申报要更正", "车船税按年申报，没有“2026年3月”", {"tax_type": "vehicle"}),
        ("申请退税 最近两年", "「退税申请」一次只能办理一个所属期", {}),
        ("第五季度的增值税更正", "没有第5季度，季度应在1到4之间", {"tax_type": "vat"}),
    ],
)
async def test_more_refusals_tried_in_the_shell(
    make_chat: Any, text: str, reason: str, kept: dict[str, str]
) -> None:
    chat, _ = make_chat()
    assert reason in text_of(await chat.say(text))
    slots = await _slots(chat)
    assert "tax_period" not in slots
    assert {k: v for k, v in slots.items() if k != "case_type"} == kept


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("个税2025年度申报更正", "2025"),  # 综合所得汇算: yearly
        ("更正一下上个季度的增值税", "2026-Q3"),
        ("我要开完税证明 2024年11月到2025年2月", "2024-11..2025-02"),
        ("上半年的完税证明", "2026-H1"),
    ],
)
async def test_more_periods_tried_in_the_shell(make_chat: Any, text: str, stored: str) -> None:
    chat, _ = make_chat()
    await chat.say(text)
    assert (await _slots(chat))["tax_period"] == stored
