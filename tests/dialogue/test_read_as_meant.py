"""Messages the conversation benchmark showed misread, through the real trained NLU and
normalisers on a fixed day (1 December 2026): a help question, 哈囉, the 税管员 on the phone,
an ID typed in groups, "不是增值税，是企业所得税", a certificate for this year so far, stamp
duty for a month, the period echoed with the files, a missing page after submitting, "我要撤回",
and how to send the letter."""

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
ID = "91650100MA78ABCD1A"


@pytest.fixture
def make_chat(interpreter: Any) -> Any:
    """A chat with the dialogue as `main.py shell` runs it, on 1 December 2026."""

    def make(chat_id: str = "1") -> tuple[Chat, FakeGateway]:
        gateway = FakeGateway(lambda: DEC_1)
        engine = DialogueEngine(
            interpreter,
            gateway,
            InMemoryTrackerStore(),
            Domain.load(ROOT / "data"),
            today=lambda: DEC_1,
            normalizers=NluNormalizers(lambda: DEC_1),
            rng=random.Random(5),
        )
        return Chat(engine, chat_id), gateway

    return make


def kinds(replies: list[Any]) -> list[str]:
    return [k for r in replies for k in r.kinds]


async def slots(chat: Chat) -> dict[str, Any]:
    tracker = await chat.tracker()
    return {k: v for k, v in tracker.slots.items() if v and k != "requested_slot"}


# ------------------------------------------------------------------------ understood as meant


@pytest.mark.parametrize("text", ["你能帮我做什么", "你都能办什么业务", "這個怎麼用"])
async def test_a_help_question_gets_the_help_then_a_request_opens_its_form(
    make_chat: Any, text: str
) -> None:
    chat, _ = make_chat()
    assert "utter_help" in kinds(await chat.say(text))
    await chat.say("开完税证明")
    assert (await chat.tracker()).active_form == "tax_certificate"


@pytest.mark.parametrize("text", ["哈囉", "哈啰", "哈罗 你好"])
async def test_hallo_in_either_script_is_a_greeting(make_chat: Any, text: str) -> None:
    chat, _ = make_chat()
    assert "utter_greet" in kinds(await chat.say(text))


async def test_asking_for_the_tax_officer_on_the_phone_hands_over(make_chat: Any) -> None:
    chat, gateway = make_chat()
    await chat.say("我想跟你们税管员通个电话")
    assert (await chat.tracker()).latest_intent == "request_human"
    assert gateway.called("hand_over")
    other, _ = make_chat("2")  # asking for the number still gets the number
    assert "12366" in text_of(await other.say("税务局电话多少"))


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("9165 0100 MA78 ABCD 1A", ID),
        ("代码是 9165-0100-MA78-ABCD-1A", ID),
        ("110101 19900307 1233", "110101199003071233"),
    ],
)
async def test_an_id_typed_in_groups_is_read_whole(
    make_chat: Any, typed: str, stored: str
) -> None:
    chat, _ = make_chat()
    await chat.say("申领发票")
    await chat.say(typed)
    assert (await slots(chat))["taxpayer_id"] == stored


async def test_an_id_in_groups_with_a_wrong_check_digit_is_still_refused(
    make_chat: Any,
) -> None:
    chat, _ = make_chat()
    await chat.say("申领发票")
    text = text_of(await chat.say("9165 0100 MA78 ABCD 1B"))
    assert "校验位" in text
    assert "taxpayer_id" not in await slots(chat)


@pytest.mark.parametrize(
    "text",
    [
        "不是增值税，是企业所得税，2025年",
        "是企业所得税，不是增值税，2025年",
        "不是增值稅，是企業所得稅，2025年",
    ],
)
async def test_a_denied_tax_type_gives_way_to_the_one_meant(make_chat: Any, text: str) -> None:
    chat, _ = make_chat()
    await chat.say("更正申报")
    await chat.say(text)
    got = await slots(chat)
    assert got["tax_type"] == "cit" and got["tax_period"] == "2025"
    assert (await chat.tracker()).active_form == "return_correction"


# ------------------------------------------------------------------------ periods by case type


async def test_a_certificate_may_be_for_this_year_so_far(make_chat: Any) -> None:
    chat, _ = make_chat()
    replies = await chat.say("我想开个人的完税证明，今年的")
    assert (await slots(chat))["tax_period"] == "2026"
    assert "utter_ask_taxpayer_id" in kinds(replies)
    await chat.say("身份证号110101199003071233")
    assert (await slots(chat))["taxpayer_id"] == "110101199003071233"


async def test_a_return_for_this_year_is_still_refused_and_so_is_a_certificate_to_come(
    make_chat: Any,
) -> None:
    chat, _ = make_chat()
    assert "还没有结束" in text_of(await chat.say("今年的企业所得税年度申报要更正"))
    assert "tax_period" not in await slots(chat)
    other, _ = make_chat("2")
    assert "还没有到" in text_of(await other.say("开2027年的完税证明"))
    assert "tax_period" not in await slots(other)


async def test_stamp_duty_filed_per_occasion_takes_a_month(make_chat: Any) -> None:
    chat, _ = make_chat()
    replies = await chat.say("印花税申报错了，所属期2025年10月，需要更正")
    got = await slots(chat)
    assert got["tax_type"] == "stamp" and got["tax_period"] == "2025-10"
    assert "utter_ask_taxpayer_id" in kinds(replies)


# ------------------------------------------------------------------------ files and submitting


async def test_keywords_with_values_open_the_correction_and_the_files_echo_them(
    make_chat: Any,
) -> None:
    chat, _ = make_chat()
    await chat.say(f"更正 增值税 25年3季度 {ID}")
    assert (await chat.tracker()).active_form == "return_correction"
    replies = await chat.send_files(1, "承诺书")
    text = text_of(replies)
    assert "utter_files_received_complete" in kinds(replies)
    assert "2025年第三季度" in text and "增值税" in text and "9165****D1A" in text
    assert "要提交吗" in text


async def test_a_missing_page_after_submitting_goes_to_that_case(make_chat: Any) -> None:
    chat, gateway = make_chat()
    await chat.say(f"更正申报 增值税 2026年10月 {ID}")
    await chat.send_files(1, "承诺书")
    assert "TX-" in text_of(await chat.press("/submit_case"))
    number = gateway.by_number("TX-2026-000123").number
    text = text_of(await chat.send_files(1, "漏了一页报表"))
    assert number in text
    assert (await chat.tracker()).active_form is None  # no new correction was opened
    assert gateway.by_number(number).added


async def test_i_want_to_withdraw_it_withdraws_the_one_queued_case(make_chat: Any) -> None:
    chat, gateway = make_chat()
    await chat.say(f"开2025年的完税证明 {ID}")
    assert "TX-" in text_of(await chat.press("/submit_case"))
    text = text_of(await chat.say("刚才那个申请我要撤回"))
    assert "已撤回案件 TX-2026-000123" in text
    assert gateway.by_number("TX-2026-000123").status == "cancelled"
    assert "排队中" not in text_of(await chat.say("/status"))


async def test_how_to_send_the_letter_is_answered_and_the_form_goes_on(make_chat: Any) -> None:
    chat, _ = make_chat()
    await chat.say(f"更正申报 增值税 2026年10月 {ID}")
    replies = await chat.say("承诺书怎么发给你")
    text = text_of(replies)
    assert "直接在这里发送" in text
    assert (await chat.tracker()).active_form == "return_correction"


async def test_a_resident_id_in_groups_is_not_read_as_a_period_too(make_chat: Any) -> None:
    """Tried in the shell: the CRF read "900" in it as a period and the form refused it."""
    chat, _ = make_chat()
    await chat.say("我想开个人的完税证明，今年的")
    text = text_of(await chat.say("1101 0119 9003 0712 33"))
    assert "所属期 2026年" in text and "确认提交" in text
    assert "没能识别" not in text
    assert (await slots(chat))["taxpayer_id"] == "110101199003071233"
