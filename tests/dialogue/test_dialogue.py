"""Dialogue unit tests: every DIALOGUES.md scenario against a scripted NLU and a fake desk."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.channel import InboundMessage, Reply
from actions.domain import Domain
from actions.engine import DialogueEngine, ScriptConverter
from actions.policy import parse_payload
from actions.ports import CaseGateway, Interpreter, TrackerStore
from actions.stores import InMemoryTrackerStore
from actions.tracker import SlotSet, Tracker
from desk import notices as desk_notices
from desk.case_types import load_case_types
from testing.dialogue import (
    ID_1,
    SCRIPTED_NLU,
    SCRIPTED_TODAY,
    Chat,
    FakeGateway,
    FakeInterpreter,
    make_scripted_engine,
    parse,
    text_of,
)
from testing.samples import BAD_ID, GOOD_ID

NLU = SCRIPTED_NLU
make_engine = make_scripted_engine

ROOT = Path(__file__).resolve().parents[2]
TODAY = SCRIPTED_TODAY  # a Friday

def payloads(replies: list[Reply]) -> list[str]:
    return [b.payload for r in replies for row in r.buttons for b in row]


def titles(replies: list[Reply]) -> list[str]:
    return [b.title for r in replies for row in r.buttons for b in row]


@pytest.fixture
def engine() -> DialogueEngine:
    return make_engine()[0]


async def correction_ready(chat: Chat) -> None:
    """§2 up to the commitment letter question."""
    await chat.say("我想改一下申报数据")
    await chat.say("个税，今年一季度")
    await chat.say(GOOD_ID)


# ----------------------------------------------------------------------------- §1


async def test_s1_everything_in_one_message_traditional() -> None:
    engine, _, interp = make_engine()
    chat = Chat(engine)
    replies = await chat.say(
        f"你好，公司上個月的增值稅申報表填錯了，要更正，統一社會信用代碼{ID_1}"
    )
    text = text_of(replies)
    assert interp.seen[0].startswith("你好，公司上个月的增值税")  # NLU got Simplified
    assert "申報更正" in text and "增值稅" in text and "承諾書" in text
    assert "所屬期 2026年10月" in text and "9131****12G" in text
    assert ID_1 not in text
    assert "税" not in text and "请" not in text  # nothing left in Simplified
    assert "識別號" not in text and "所屬期？" not in text  # nothing asked again
    tracker = await chat.tracker()
    assert tracker.script == "hant"
    assert tracker.active_form == "return_correction"
    assert tracker.slots["taxpayer_id"] == ID_1
    assert tracker.requested_slot is None


async def test_s1_simplified(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    replies = await chat.say(
        f"你好，公司上个月的增值税申报表填错了，要更正，统一社会信用代码{ID_1}"
    )
    text = text_of(replies)
    assert "申报更正" in text and "增值税" in text and "9131****12G" in text
    assert "承诺书" in text
    assert len(replies) == 1  # one message, not one per line


# ----------------------------------------------------------------------------- §2


@pytest.mark.parametrize("traditional", [False, True])
async def test_s2_missing_and_wrong_values(traditional: bool) -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    conv = ScriptConverter("s2tw")

    def t(s: str) -> str:
        return conv.to_traditional(s) if traditional else s

    text = text_of(await chat.say(t("我想改一下申报数据")))
    assert t("哪个税种") in text and t("所属期") in text
    text = text_of(await chat.say(t("个税，今年一季度")))
    assert t("纳税人识别号") in text
    text = text_of(await chat.say(BAD_ID))
    assert t("校验位") in text and t("重新输入") in text
    tracker = await chat.tracker()
    assert tracker.requested_slot == "taxpayer_id"
    assert tracker.get_slot("taxpayer_id") is None
    assert tracker.get_slot("tax_type") == "iit" and tracker.get_slot("tax_period") == "2026-Q1"
    text = text_of(await chat.say(GOOD_ID))
    assert t("承诺书") in text
    assert t("税种") not in text
    tracker = await chat.tracker()
    assert tracker.get_slot("taxpayer_id") == GOOD_ID
    assert gw.calls == []  # nothing sent to the desk before there is something to keep


async def test_invalid_id_from_text_without_entity() -> None:
    """The NLU may miss the entity: the answer to the question is checked from the text."""
    nlu = dict(NLU)
    nlu[BAD_ID] = parse("nlu_fallback", 0.1)
    nlu[GOOD_ID] = parse("nlu_fallback", 0.1)
    engine, gw, _ = make_engine(nlu=nlu)
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    await chat.say("个税，今年一季度")
    text = text_of(await chat.say(BAD_ID))
    assert "校验位" in text
    assert gw.review == []  # a refused value is not a "not understood" message
    text = text_of(await chat.say(GOOD_ID))
    assert "承诺书" in text


@pytest.mark.parametrize("traditional", [False, True])
async def test_resident_ids_where_the_taxpayer_id_is_asked(traditional: bool) -> None:
    """Individuals and 个体工商户 give their resident ID: a valid one is taken, an invalid one
    or a 15-character number is refused with the reason, in the taxpayer's script."""
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    conv = ScriptConverter("s2tw")

    def t(s: str) -> str:
        return conv.to_traditional(s) if traditional else s

    await chat.say(t("我想改一下申报数据"))
    assert t("纳税人识别号") in text_of(await chat.say(t("个税，今年一季度")))
    text = text_of(await chat.say("110101199002304516"))  # 30 February
    assert t("身份证号码中的出生日期") in text and t("重新输入") in text
    text = text_of(await chat.say("110101199003074513"))
    assert t("身份证号码的校验位不对") in text
    text = text_of(await chat.say("330100799655058"))
    assert t("15位税务登记号已停用") in text and t("18位身份证号码") in text
    assert (await chat.tracker()).get_slot("taxpayer_id") is None
    text = text_of(await chat.say("11010519491231002x"))
    assert t("承诺书") in text
    tracker = await chat.tracker()
    assert tracker.get_slot("taxpayer_id") == "11010519491231002X"
    dumped = json.dumps([turn["text"] for turn in tracker.turns], ensure_ascii=False)
    assert "19491231" not in dumped and "1101****02X" in dumped
    assert gw.review == []


async def test_values_given_early_are_kept() -> None:
    engine, _, _ = make_engine()
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    # asked for tax type and period, the taxpayer gives the ID first
    text = text_of(await chat.say(GOOD_ID))
    assert "哪个税种" in text
    assert (await chat.tracker()).get_slot("taxpayer_id") == GOOD_ID
    text = text_of(await chat.say("个税，今年一季度"))
    assert "纳税人识别号" not in text
    assert "承诺书" in text


async def test_future_period_refused() -> None:
    nlu = dict(NLU)
    nlu["2027年3月的增值税"] = parse("provide_info", tax_type="vat", tax_period="2027-03")
    engine, _, _ = make_engine(nlu=nlu)
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    text = text_of(await chat.say("2027年3月的增值税"))
    assert "2027年3月还没有到，还不能申报或更正" in text
    tracker = await chat.tracker()
    assert tracker.get_slot("tax_type") == "vat"
    assert tracker.get_slot("tax_period") is None
    assert tracker.requested_slot == "tax_period"


async def test_refund_asks_amount_and_takes_it_from_text() -> None:
    engine, _, _ = make_engine()
    chat = Chat(engine)
    await chat.say("申请退税")
    await chat.say("开完税证明，2021年".replace("开完税证明，", ""))  # "2021年" not scripted
    tracker = await chat.tracker()
    assert tracker.get_slot("tax_period") == "2021"
    assert tracker.requested_slot == "amount"
    await chat.say("3000元")
    text = text_of(await chat.say(GOOD_ID))
    assert "退税申请表" in text
    assert (await chat.tracker()).get_slot("amount") == "3000"


# ----------------------------------------------------------------------------- §3


async def test_s3_album_one_acknowledgement(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    replies = await chat.send_files(3, caption="承诺书和发票")
    assert len(replies) == 1
    text = replies[0].text
    assert text.startswith("收到 3 个文件。")
    assert "承诺书 ✓" in text and "补充材料 2 份" in text and "还需要：无" in text
    assert titles(replies) == ["提交", "继续上传"]
    tracker = await chat.tracker()
    assert tracker.files == {"commitment_letter": [1], "supporting": [2, 3]}
    assert tracker.awaiting == "confirm_submit"


async def test_s3_album_traditional_caption() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await correction_ready(chat)
    replies = await chat.send_files(3, caption="承諾書和發票")
    text = text_of(replies)
    assert "收到 3 個文件" in text and "承諾書 ✓" in text and "補充材料 2 份" in text
    assert [a[2] for a in gw.called("attach_file")] == [
        "commitment_letter",
        "supporting",
        "supporting",
    ]


async def test_s3_rejected_files_keep_state(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.send_files(3, caption="承诺书和发票")
    before = (await chat.tracker()).to_dict()
    docx = "暂不支持这种文件，请发送 PDF 或 JPG/PNG 照片。"
    text = text_of(await chat.say(None, rejected_files=(docx,)))
    assert docx in text and "承诺书 ✓" in text
    big = "文件超过 20 MB，请压缩后再发，或分页拍照发送。"
    text = text_of(await chat.say(None, rejected_files=(big,)))
    assert big in text
    after = (await chat.tracker()).to_dict()
    for key in ("slots", "files", "active_form", "draft_case_id"):
        assert after[key] == before[key]


async def test_s3_mixed_album_accepts_good_files_and_tells_bad_ones(
    engine: DialogueEngine,
) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    reason = "有一个文件已损坏，请重新发送。"
    replies = await chat.say("承诺书", files=chat.files(1), rejected_files=(reason,))
    text = text_of(replies)
    assert reason in text and "收到 1 个文件" in text and "承诺书 ✓" in text


async def test_s3_unsure_file_asks_with_buttons(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    replies = await chat.send_files(1)
    assert "是承诺书吗" in text_of(replies)
    assert titles(replies) == ["是", "不是，是补充材料"]
    tracker = await chat.tracker()
    assert tracker.files == {} and len(tracker.unclassified) == 1
    # "不是": supporting, then asked again about nothing (no more files)
    replies = await chat.press(payloads(replies)[1])
    tracker = await chat.tracker()
    assert tracker.files == {"supporting": [1]}
    assert "还需要：承诺书" in text_of(replies)
    # a second photo, text answer "是"
    nlu_yes = parse("affirm")
    engine.interpreter.script["是的"] = nlu_yes  # type: ignore[attr-defined]
    await chat.send_files(1)
    replies = await chat.say("是的")
    tracker = await chat.tracker()
    assert tracker.files == {"supporting": [1], "commitment_letter": [2]}
    assert "还需要：无" in text_of(replies) and "提交" in titles(replies)


async def test_unsure_album_without_caption_rest_follows(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    replies = await chat.send_files(3)
    assert len([r for r in replies if r.buttons]) == 1  # one question, not three
    replies = await chat.press(payloads(replies)[0])  # first is the commitment letter
    tracker = await chat.tracker()
    assert tracker.files == {"commitment_letter": [1], "supporting": [2, 3]}
    assert "补充材料 2 份" in text_of(replies)


async def test_files_before_case_type_are_kept(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    replies = await chat.send_files(1, caption=None)
    assert "请问要办理哪项业务" in text_of(replies)
    assert '/choose_case_type{"case_type":"invoice"}' in payloads(replies)
    replies = await chat.press('/choose_case_type{"case_type":"invoice"}')
    text = text_of(replies)
    assert "发票申领" in text and "营业执照 ✓" in text
    assert "纳税人识别号" in text
    await chat.say(GOOD_ID)
    tracker = await chat.tracker()
    assert tracker.files == {"business_licence": [1]}
    assert tracker.awaiting == "confirm_submit"


# ----------------------------------------------------------------------------- §4


@pytest.mark.parametrize("traditional", [False, True])
async def test_s4_submit_number_and_deadline(traditional: bool) -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    if traditional:
        await chat.say(f"你好，公司上個月的增值稅申報表填錯了，要更正，統一社會信用代碼{ID_1}")
    else:
        await correction_ready(chat)
    await chat.send_files(2, caption="承诺书和发票")
    text = text_of(await chat.press("/submit_case"))
    assert "TX-2026-000123" in text
    assert "11月30日" in text  # Friday + 1 working day = Monday
    assert "已受理" in text
    (case_id,) = gw.called("submit")[0]
    case = gw.cases[case_id]
    assert case.status == "queued"
    assert case.files == {"commitment_letter": [1], "supporting": [2]}
    expected = (
        {"tax_type": "vat", "tax_period": "2026-10", "taxpayer_id": ID_1}
        if traditional
        else {"tax_type": "iit", "tax_period": "2026-Q1", "taxpayer_id": GOOD_ID}
    )
    assert case.slots == expected
    tracker = await chat.tracker()
    assert tracker.active_form is None and tracker.files == {}
    assert tracker.draft_case_id is None


async def test_submit_needs_confirmation_and_completeness(engine: DialogueEngine) -> None:
    engine_, gw, _ = make_engine()
    chat = Chat(engine_)
    await correction_ready(chat)
    text = text_of(await chat.say("提交"))  # before the commitment letter
    assert "承诺书" in text
    assert gw.called("submit") == []
    # a case type without documents: confirmation first, then [提交]
    chat2 = Chat(engine_, "200")
    await chat2.say("开完税证明，2021年")
    replies = await chat2.say(GOOD_ID)
    assert "确认提交" in text_of(replies) and "提交" in titles(replies)
    assert gw.called("submit") == []
    engine_.interpreter.script["好的"] = parse("affirm")  # type: ignore[attr-defined]
    text = text_of(await chat2.say("好的"))
    assert "TX-2026-" in text
    assert len(gw.called("submit")) == 1


# ----------------------------------------------------------------------------- §5


async def test_s5_status_lists_all_open_cases() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await chat.say("开完税证明，2021年")
    await chat.say(GOOD_ID)
    await chat.press("/submit_case")
    await correction_ready(chat)
    await chat.send_files(1, caption="承诺书")
    await chat.press("/submit_case")
    gw.ask("TX-2026-000123", "请补充 2021 年度的证明用途")
    for case in gw.cases.values():
        if case.number == "TX-2026-000124":
            case.status = "in_progress"
    text = text_of(await chat.say("我的业务办得怎么样了"))
    lines = text.splitlines()
    assert lines[0] == "您有 2 个在办事项："
    assert lines[1] == "TX-2026-000124 申报更正 · 处理中 · 预计 11月30日"
    assert lines[2] == (
        "TX-2026-000123 完税证明 · 待您补充材料（工作人员留言：请补充 2021 年度的证明用途）"
    )
    # another taxpayer sees none of it
    text = text_of(await Chat(engine, "999").say("/status"))
    assert "没有在办事项" in text


async def test_status_mid_form_then_form_question_again(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    text = text_of(await chat.say("我的业务办得怎么样了"))
    assert "没有在办事项" in text and "哪个税种" in text
    assert (await chat.tracker()).active_form == "return_correction"


# ----------------------------------------------------------------------------- §6


async def test_s6_staff_question_answer_completion_rating() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.send_files(1, caption="承诺书")
    await chat.press("/submit_case")
    gw.ask("TX-2026-000123", "请确认更正后的销售额是否为 125,000 元？")
    # the outbox worker sent the desk's case_question notice, then told the dialogue
    await engine.note_staff_question("telegram", "100", "TX-2026-000123")
    text = text_of(await chat.say("对的"))
    assert "TX-2026-000123" in text
    assert gw.called("answer_question")[0][1:] == ("TX-2026-000123", "对的", [])
    case = next(c for c in gw.cases.values() if c.number == "TX-2026-000123")
    assert case.status == "in_progress"
    # the answer was consumed: the next "对的" is an ordinary affirm
    await chat.say("对的")
    assert len(gw.called("answer_question")) == 1

    # the desk's case_done notice carries the rating buttons; a press reaches the dialogue
    done = desk_notices.case_done(
        "TX-2026-000123",
        load_case_types(ROOT / "data" / "case_types.yml").get("return_correction"),
        "已为您更正。",
    )
    rates = [row[0]["payload"] for row in done["buttons"]]
    assert [row[0]["title"]["zh_hans"] for row in done["buttons"]] == [
        "非常满意",
        "满意",
        "基本满意",
        "不满意",
        "非常不满意",
    ]
    assert json.loads(rates[1][len("/rate") :]) == {
        "case_number": "TX-2026-000123",
        "level": "satisfied",
    }
    text = text_of(await chat.press(rates[1]))
    assert "感谢" in text or "谢谢" in text
    assert gw.called("rate")[0][1:] == ("TX-2026-000123", "satisfied")
    text = text_of(await chat.press(rates[4]))
    assert "跟进" in text


async def test_s6_answer_with_file_goes_to_case(engine: DialogueEngine) -> None:
    engine_, gw, _ = make_engine()
    chat = Chat(engine_)
    await engine_.note_staff_question("telegram", "100", "TX-2026-000009")
    await chat.send_files(1, caption="这是发票")
    assert gw.called("answer_question")[0][1:] == ("TX-2026-000009", "这是发票", [1])
    assert gw.called("attach_file") == []


async def test_s6_answer_while_with_staff_goes_to_case_silently() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await chat.say("转人工")
    await engine.note_staff_question("telegram", "100", "TX-2026-000009")
    assert await chat.say("十月份的") == []  # staff have the conversation: the bot is quiet
    assert gw.called("answer_question")[0][1:] == ("TX-2026-000009", "十月份的", [])
    assert (await chat.tracker()).pending_case is None
    assert await chat.say("还有别的吗") == []
    assert len(gw.called("answer_question")) == 1


# ----------------------------------------------------------------------------- §7


async def test_s7_hand_over_silence_and_back() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    text = text_of(await chat.say("转人工"))
    assert "工作人员会在办公时间内" in text and "9:00–12:00" in text
    assert len(gw.called("hand_over")) == 1
    assert await chat.say("你好") == []
    assert await chat.send_files(1) == []
    tracker = await chat.tracker()
    assert tracker.state == "human"
    assert [t["text"] for t in tracker.turns if t["role"] == "user"][-2:] == [
        "你好",
        "[1 file(s)]",
    ]  # still recorded while silent
    # staff hand back (/bot at the desk)
    gw.states["telegram:100"] = "bot"
    back = await engine.hand_back("telegram", "100")
    assert "人工服务已结束" in text_of(back)
    assert "您好" in text_of(await chat.say("你好"))


async def test_s7_human_ends_at_desk_without_notice() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await chat.say("/human")
    assert await chat.say("你好") == []
    gw.states["telegram:100"] = "bot"  # e.g. an idle timeout at the desk
    assert "您好" in text_of(await chat.say("你好"))


# ----------------------------------------------------------------------------- §8


async def test_s8_two_fallbacks_offer_a_person() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    text = text_of(await chat.say("那个啥 就是上回那个东西"))
    assert "没" in text and "转人工" in text
    assert gw.called("hand_over") == []
    replies = await chat.say("哎呀说不清")
    text = text_of(replies)
    assert "交由工作人员处理" in text and "已记录您的人工服务请求" in text
    assert [call[1] for call in gw.called("hand_over")] == ["fallback"]
    assert [t for _, t in gw.review] == ["那个啥 就是上回那个东西", "哎呀说不清"]
    tracker = await chat.tracker()
    assert tracker.state == "human" and tracker.fallback_count == 0
    assert await chat.say("喂？") == []  # staff have it now


async def test_s8_an_understood_message_resets_the_fallback_count() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await chat.say("那个啥 就是上回那个东西")
    await chat.say("你好")
    replies = await chat.say("哎呀说不清")
    assert "工作人员处理" not in text_of(replies)
    assert gw.called("hand_over") == []
    assert (await chat.tracker()).fallback_count == 1


async def test_s8_fallback_inside_form_reasks() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    text = text_of(await chat.say("那个啥 就是上回那个东西"))
    assert "哪个税种" in text
    assert len(gw.review) == 1


# ----------------------------------------------------------------------------- §9


async def test_s9_faq_from_data() -> None:
    engine, _, _ = make_engine()
    chat = Chat(engine)
    text = text_of(await chat.say("周六大厅开门吗"))
    assert "周六" in text and "不开放" in text and "24 小时" in text
    text = text_of(await chat.say("小规模纳税人现在有什么减免"))
    assert "来源：" in text and "截至" in text and "小规模纳税人" in text
    text = text_of(await chat.say("週六大廳開門嗎"))
    assert "週六" in text and "不開放" in text


async def test_faq_mid_form_then_reask(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    text = text_of(await chat.say("周六大厅开门吗"))
    assert "不开放" in text and "哪个税种" in text


# ----------------------------------------------------------------------------- §10


@pytest.mark.parametrize("how", ["算了不办了", "取消", "/cancel", "/cancel_request"])
async def test_s10_cancel_anywhere(how: str) -> None:
    engine, gw, interp = make_engine()
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.send_files(1, caption="承诺书")  # a draft exists now
    seen = len(interp.seen)
    text = text_of(await chat.say(how))
    assert "已取消" in text and "不会提交" in text
    if how != "算了不办了":
        assert len(interp.seen) == seen  # no NLU needed
    tracker = await chat.tracker()
    assert tracker.active_form is None and tracker.files == {} and tracker.slots == {}
    assert gw.called("cancel") == [("draft-1",)]
    assert gw.called("submit") == []


async def test_s10_cancel_traditional() -> None:
    engine, _, _ = make_engine()
    chat = Chat(engine)
    await chat.say(f"你好，公司上個月的增值稅申報表填錯了，要更正，統一社會信用代碼{ID_1}")
    text = text_of(await chat.say("算了不辦了"))
    assert "已取消" in text and "不會提交" in text


# ----------------------------------------------------------------------------- persistence


async def test_restart_mid_form_continues() -> None:
    store = InMemoryTrackerStore()
    gw = FakeGateway(lambda: TODAY)
    engine1, _, _ = make_engine(store=store, gateway=gw)
    chat = Chat(engine1)
    await chat.say("我想改一下申报数据")
    await chat.say("个税，今年一季度")
    await chat.send_files(1, caption="承诺书")
    # a new process: new engine, same store and desk
    engine2, _, _ = make_engine(store=store, gateway=gw)
    chat2 = Chat(engine2)
    chat2.next_file = 2
    replies = await chat2.say(GOOD_ID)
    text = text_of(replies)
    assert "哪个税种" not in text and "确认提交" in text
    assert "提交" in titles(replies)
    await chat2.press("/submit_case")
    case = gw.cases[gw.called("submit")[0][0]]
    assert case.files == {"commitment_letter": [1]}
    assert case.slots["taxpayer_id"] == GOOD_ID


def test_tracker_json_round_trip() -> None:
    tracker = Tracker("telegram:1", "telegram", "1", "u1")
    tracker.apply([SlotSet("taxpayer_id", GOOD_ID), SlotSet("requested_slot", "tax_type")])
    tracker.files = {"commitment_letter": [1, 2]}
    for i in range(50):
        tracker.add_turn("user", f"m{i}")
    data = json.loads(json.dumps(tracker.to_dict()))
    again = Tracker.from_dict(data)
    assert again.to_dict() == tracker.to_dict()
    assert len(again.turns) == 20 and again.turns[-1]["text"] == "m49"


async def test_redis_tracker_store_restart(redis_url: str, key_prefix: str) -> None:
    from redis.asyncio import Redis

    from actions.stores import RedisTrackerStore

    prefix = key_prefix
    client = Redis.from_url(redis_url)
    try:
        gw = FakeGateway(lambda: TODAY)
        engine1, _, _ = make_engine(store=RedisTrackerStore(client, prefix=prefix), gateway=gw)
        await Chat(engine1).say("我想改一下申报数据")
        engine2, _, _ = make_engine(store=RedisTrackerStore(client, prefix=prefix), gateway=gw)
        text = text_of(await Chat(engine2).say("个税，今年一季度"))
        assert "纳税人识别号" in text
        assert await client.exists(prefix + "telegram:100")
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


# ----------------------------------------------------------------------------- engine


async def test_one_conversation_never_interleaves() -> None:
    active: dict[str, int] = {}
    overlaps: list[str] = []

    class SlowInterpreter(FakeInterpreter):
        async def aparse(self, text: str) -> dict[str, Any]:
            key = text.split(":")[0]
            active[key] = active.get(key, 0) + 1
            if active[key] > 1:
                overlaps.append(key)
            await asyncio.sleep(0.01)
            active[key] -= 1
            return parse("greet", text=text)

    engine, _, _ = make_engine()
    engine.interpreter = SlowInterpreter()
    msgs = [
        InboundMessage("telegram", chat, "u", text=f"{chat}:{i}")
        for i in range(5)
        for chat in ("a", "b")
    ]
    results = await asyncio.gather(*(engine.handle(m) for m in msgs))
    assert all(results)
    assert overlaps == []
    tracker = await engine.tracker("telegram", "a")
    assert tracker is not None
    assert len([t for t in tracker.turns if t["role"] == "user"]) == 5
    assert len(engine._locks) == 0


async def test_deliver_runs_under_the_turn_so_replies_keep_chat_order() -> None:
    """Two turns of one chat at once: the second is not parsed before the first one's
    replies are delivered (the one per-chat lock covers "dialogue, then send"), even when
    the first delivery is slow; another chat is not held up."""
    log: list[str] = []
    first_delivering = asyncio.Event()

    class LoggingInterpreter(FakeInterpreter):
        async def aparse(self, text: str) -> dict[str, Any]:
            log.append(f"parse {text}")
            return await super().aparse(text)

    engine, _, _ = make_engine()
    engine.interpreter = LoggingInterpreter(NLU)

    def deliver(name: str, *, slow: bool = False) -> Any:
        async def send(replies: list[Reply]) -> None:
            log.append(f"send {name} start")
            if slow:
                first_delivering.set()
                await asyncio.sleep(0.2)
            assert replies
            log.append(f"send {name} end")

        return send

    async def second(chat: str, text: str, name: str) -> list[Reply]:
        await first_delivering.wait()
        return await engine.handle(
            InboundMessage("telegram", chat, "u", text=text), deliver=deliver(name)
        )

    first = engine.handle(
        InboundMessage("telegram", "a", "u", text="你好"), deliver=deliver("a1", slow=True)
    )
    results = await asyncio.gather(
        first, second("a", "谢谢", "a2"), second("b", "谢谢", "b1")
    )
    assert all(results)
    in_a = [e for e in log if "a1" in e or "a2" in e or e in ("parse 你好",)]
    assert log.index("send a1 end") < log.index("send a2 start")
    assert in_a == ["parse 你好", "send a1 start", "send a1 end", "send a2 start", "send a2 end"]
    assert log.index("send b1 end") < log.index("send a1 end")  # chat b did not wait
    assert len(engine._locks) == 0


async def test_gateway_error_is_told_and_state_kept() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.send_files(1, caption="承诺书")
    gw.fail_next = "submit"
    text = text_of(await chat.press("/submit_case"))
    assert "稍后再试" in text
    tracker = await chat.tracker()
    assert tracker.active_form == "return_correction" and tracker.files
    assert "TX-" in text_of(await chat.press("/submit_case"))


async def test_nlu_failure_is_not_a_crash() -> None:
    class Broken:
        async def aparse(self, text: str) -> dict[str, Any]:
            raise RuntimeError("model missing")

    engine, _, _ = make_engine()
    engine.interpreter = Broken()
    text = text_of(await Chat(engine).say("随便说点什么"))
    assert "没有理解" in text or "没太明白" in text


def test_ports_are_satisfied_by_fakes() -> None:
    assert isinstance(FakeInterpreter(), Interpreter)
    assert isinstance(FakeGateway(), CaseGateway)
    assert isinstance(InMemoryTrackerStore(), TrackerStore)


def test_payloads_parse_without_nlu() -> None:
    p = parse_payload('/rate{"case":"TX-2026-000123","level":"satisfied"}')
    assert p is not None
    assert p["intent"]["name"] == "rate" and p["case"] == "TX-2026-000123"
    assert parse_payload("/cancel")["intent"]["name"] == "cancel_request"  # type: ignore[index]
    assert parse_payload("/rate{not json}") is None
    assert parse_payload("我要 /cancel") is None


def test_script_detection() -> None:
    conv = ScriptConverter()
    assert conv.detect("申報表填錯了", "") == "hant"
    assert conv.detect("申报表填错了", "hant") == "hans"
    assert conv.detect("你好", "hant") == "hant"  # same in both scripts: keep
    assert conv.detect("你好", "", "zh-hant") == "hant"
    assert conv.detect("ok", "") == "hans"


# ----------------------------------------------------------------------------- data


def test_every_response_used_in_code_exists() -> None:
    domain = Domain.load(ROOT / "data")
    used = set()
    for path in (ROOT / "actions").glob("*.py"):
        used |= set(re.findall(r'"(utter_[a-z_]+)"', path.read_text(encoding="utf-8")))
    used = {u for u in used if not u.endswith("_")}
    missing = sorted(u for u in used if not domain.has_response(u))
    assert missing == []
    for slot in {s for c in domain.case_types.values() for s in c.slots}:
        assert domain.has_response(f"utter_ask_{slot}")
    rule_actions = {r.action for r in domain.rules}
    engine, _, _ = make_engine()
    assert rule_actions <= set(engine.actions)


def test_data_files_have_no_nlu_key() -> None:
    for name in ("domain.yml", "rules.yml", "faq.yml"):
        data = yaml.safe_load((ROOT / "data" / name).read_text(encoding="utf-8"))
        assert "nlu" not in data


# ----------------------------------------------------------------------------- more paths


async def test_ambiguous_request_asks_case_type_with_buttons() -> None:
    nlu = dict(NLU)
    amb = parse("request_tax_certificate", 0.46, taxpayer_id=GOOD_ID)
    amb["intent_ranking"] = [
        {"name": "request_tax_certificate", "confidence": 0.46},
        {"name": "request_refund", "confidence": 0.40},
        {"name": "greet", "confidence": 0.1},
    ]
    nlu["我要办个证明还是退税的"] = amb
    engine, _, _ = make_engine(nlu=nlu)
    chat = Chat(engine)
    replies = await chat.say("我要办个证明还是退税的")
    assert titles(replies) == ["完税证明", "退税申请"]
    assert (await chat.tracker()).active_form is None
    replies = await chat.press(payloads(replies)[1])
    text = text_of(replies)
    assert "退税申请" in text and "9165****D1A" in text  # the ID given with it was kept
    assert (await chat.tracker()).active_form == "refund"


async def test_values_before_case_type_are_kept(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    replies = await chat.say(GOOD_ID)
    assert "业务" in text_of(replies) and len(payloads(replies)) == 5
    replies = await chat.press('/choose_case_type{"case_type":"tax_certificate"}')
    text = text_of(replies)
    assert "9165****D1A" in text and "所属期" in text and "识别号" not in text


async def test_switching_case_type_mid_form_needs_confirmation() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.send_files(1, caption="承诺书")
    replies = await chat.say("我要申领发票")
    assert "正在办理「申报更正」" in text_of(replies)
    assert titles(replies) == ["改办发票申领", "继续办理申报更正"]
    assert (await chat.tracker()).active_form == "return_correction"
    # keep going with the current case
    text = text_of(await chat.press(payloads(replies)[1]))
    assert "确认提交" in text
    assert (await chat.tracker()).files == {"commitment_letter": [1]}
    # switch
    replies = await chat.say("我要申领发票")
    text = text_of(await chat.press(payloads(replies)[0]))
    assert "发票申领" in text and "营业执照" in text
    tracker = await chat.tracker()
    assert tracker.active_form == "invoice" and tracker.files == {}
    assert tracker.get_slot("taxpayer_id") == GOOD_ID
    assert gw.called("cancel") == [("draft-1",)]


async def test_caption_intent_does_not_switch_form() -> None:
    nlu = dict(NLU)
    nlu["发票"] = parse("request_invoice")
    engine, _, _ = make_engine(nlu=nlu)
    chat = Chat(engine)
    await correction_ready(chat)
    text = text_of(await chat.send_files(1, caption="发票"))
    tracker = await chat.tracker()
    assert tracker.active_form == "return_correction"
    assert tracker.files == {"supporting": [1]}
    assert "还需要：承诺书" in text


async def test_tracker_turns_mask_taxpayer_ids(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await chat.say(f"你好，公司上个月的增值税申报表填错了，要更正，统一社会信用代码{ID_1}")
    tracker = await chat.tracker()
    dumped = json.dumps([t["text"] for t in tracker.turns], ensure_ascii=False)
    assert ID_1 not in dumped and "9131****12G" in dumped


async def test_cancel_forgets_values_and_nothing_to_cancel(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.say("取消")
    assert (await chat.tracker()).slots == {}
    text = text_of(await chat.say("取消"))
    assert "没有正在办理" in text


async def test_after_submit_id_is_offered_again(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await correction_ready(chat)
    await chat.send_files(1, caption="承诺书")
    await chat.press("/submit_case")
    text = text_of(await chat.say("我要开完税证明"))
    assert "9165****D1A" in text and "所属期" in text


async def test_greeting_and_help_mid_form(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    text = text_of(await chat.say("你好"))
    assert "您好" in text and "哪个税种" in text
    text = text_of(await chat.say("/help"))
    assert "转人工" in text and "哪个税种" in text


async def test_files_for_a_case_type_without_documents(engine: DialogueEngine) -> None:
    chat = Chat(engine)
    await chat.say("我要开完税证明")
    text = text_of(await chat.send_files(1))
    assert "不需要上传材料" in text and "所属期" in text


# ----------------------------------------------------------------------------- real NLU


@pytest.fixture
def real_nlu(interpreter: Any) -> Any:
    """The model trained once per run (tests/conftest.py)."""
    return interpreter


@pytest.mark.slow
async def test_main_flow_with_the_real_nlu_and_normalizers(real_nlu: Any) -> None:
    """DIALOGUES §1, §2, §3, §4, §10 through the trained NLU and `nlu.normalizers`."""
    from actions.validation import NluNormalizers

    gw = FakeGateway(date.today)
    engine = DialogueEngine(
        real_nlu,
        gw,
        InMemoryTrackerStore(),
        Domain.load(ROOT / "data"),
        normalizers=NluNormalizers(),
    )
    chat = Chat(engine, "1")
    text = text_of(
        await chat.say(f"你好，公司上個月的增值稅申報表填錯了，要更正，統一社會信用代碼{ID_1}")
    )
    assert "申報更正" in text and "9131****12G" in text and "承諾書" in text
    chat = Chat(engine, "2")
    assert "税种" in text_of(await chat.say("我想改一下申报数据"))
    assert "纳税人识别号" in text_of(await chat.say("个税，今年一季度"))
    assert "校验位" in text_of(await chat.say(BAD_ID))
    assert "承诺书" in text_of(await chat.say(GOOD_ID))
    replies = await chat.send_files(3, caption="承诺书和发票")
    assert "补充材料 2 份" in text_of(replies)
    assert "TX-" in text_of(await chat.say("提交"))
    chat = Chat(engine, "3")
    await chat.say("我想改一下申报数据")
    assert "已取消" in text_of(await chat.say("算了不办了"))
    assert "不开放" in text_of(await chat.say("周六大厅开门吗"))


async def test_files_before_taxpayer_id_reach_the_desk_when_it_is_known() -> None:
    engine, gw, _ = make_engine()
    chat = Chat(engine)
    await chat.say("我想改一下申报数据")
    await chat.say("个税，今年一季度")
    await chat.send_files(2, caption="承诺书和发票")
    assert gw.called("open_draft") == []  # the desk files cases under the taxpayer ID
    assert (await chat.tracker()).files == {"commitment_letter": [1], "supporting": [2]}
    await chat.say(GOOD_ID)
    text = text_of(await chat.press("/submit_case"))
    assert "TX-2026-000123" in text
    (args,) = gw.called("open_draft")
    assert args[2]["taxpayer_id"] == GOOD_ID
    case = gw.cases["draft-1"]
    assert case.files == {"commitment_letter": [1], "supporting": [2]}


@pytest.mark.parametrize(
    "payload_text",
    [
        '/rate{"case_number":"TX-2026-000001","level":"basically_satisfied"}',
        '/rate{"case":"TX-2026-000001","level":"basic"}',
    ],
)
async def test_rating_payloads_from_desk_and_dialogue(payload_text: str) -> None:
    engine, gw, _ = make_engine()
    text = text_of(await Chat(engine).press(payload_text))
    assert "基本满意" in text
    assert gw.called("rate")[0][1:3] == ("TX-2026-000001", "basically_satisfied")


async def test_note_staff_question_routes_next_message() -> None:
    engine, gw, _ = make_engine()
    await engine.note_staff_question("telegram", "100", "TX-2026-000007")
    await Chat(engine).say("是的，销售额是125000元")
    assert gw.called("answer_question")[0][1:3] == ("TX-2026-000007", "是的，销售额是125000元")


async def test_s1_with_a_wrong_id_keeps_the_rest_and_asks_again() -> None:
    nlu = dict(NLU)
    text_in = f"上个月的增值税申报要更正，代码{BAD_ID}"
    nlu[text_in] = parse(
        "request_correction",
        tax_type="vat",
        tax_period="2026-10",
        taxpayer_id={"value": BAD_ID, "invalid": True, "reason": "这个代码的校验位不对"},
    )
    engine, _, _ = make_engine(nlu=nlu)
    chat = Chat(engine)
    replies = await chat.say(text_in)
    lines = text_of(replies).splitlines()
    assert lines[0].startswith("好的") and "增值税" in lines[0] and "代码" not in lines[0]
    assert "校验位" in lines[1]
    tracker = await chat.tracker()
    assert tracker.requested_slot == "taxpayer_id" and tracker.get_slot("tax_period") == "2026-10"
    assert "承诺书" in text_of(await chat.say(GOOD_ID))


async def test_hand_over_in_traditional() -> None:
    engine, gw, _ = make_engine()
    text = text_of(await Chat(engine).say("轉人工"))
    assert text.startswith("已記錄您的人工服務請求") and "辦公時間" in text
    assert len(gw.called("hand_over")) == 1
