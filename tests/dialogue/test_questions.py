"""The questions taxpayers really ask (issue 9 point 4), through the trained NLU model and
the real dialogue (a fake desk): each message the issue quotes gets its answer and never a
wrong form; questions asked mid-form are answered and the form asks its question again; a
message with two requests gets both; complaints are recorded and the chat goes on."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from actions.channel import Reply
from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import InMemoryTrackerStore
from testing.dialogue import Chat, FakeGateway, text_of

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 1)  # a Tuesday, as in DIALOGUES §13
GOOD_ID = "91650100MA78ABCD1A"

pytestmark = pytest.mark.slow


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(lambda: TODAY)


@pytest.fixture
def engine(interpreter: Any, gateway: FakeGateway) -> DialogueEngine:
    from actions.validation import NluNormalizers

    return DialogueEngine(
        interpreter,
        gateway,
        InMemoryTrackerStore(),
        Domain.load(ROOT / "data"),
        today=lambda: TODAY,
        normalizers=NluNormalizers(lambda: TODAY),
        rng=random.Random(3),
    )


def payloads(replies: list[Reply]) -> list[str]:
    return [b.payload for r in replies for row in r.buttons for b in row]


async def no_case_opened(chat: Chat) -> None:
    tracker = await chat.tracker()
    assert tracker.active_form is None, tracker.active_form


# ------------------------------------------------------------------ the quoted questions


@pytest.mark.parametrize(
    ("text", "expected", "not_expected"),
    [
        ("发票开错了怎么红冲", ["红字发票", "电子税务局"], ["发票申领"]),
        ("發票開錯了怎麼紅沖", ["紅字發票", "電子稅務局"], ["發票申領」"]),
        ("注销税务登记怎么办", ["清税证明", "注销不在这里办理"], ["登记信息变更」"]),
        (
            "2025年个税汇算清缴退税怎么办理",
            ["个人所得税", "汇算", "不在这里办理"],
            ["纳税人识别号"],
        ),
        ("数电发票怎么开", ["电子税务局"], ["营业执照"]),
        ("我想预约明天上午去办", ["不能预约", "12366"], ["抱歉"]),
        ("地址在哪里？怎么坐车过去", ["地址", "公交"], ["抱歉"]),
        ("电话是多少", ["12366"], ["抱歉"]),
        ("非常满意", ["感谢"], ["很抱歉", "投诉"]),
        ("很好", ["感谢", "肯定"], ["很抱歉"]),
    ],
)
async def test_questions_are_answered_not_turned_into_forms(
    engine: DialogueEngine, text: str, expected: list[str], not_expected: list[str]
) -> None:
    chat = Chat(engine, f"q-{hash(text) % 10_000}")
    reply = text_of(await chat.say(text))
    assert any(e in reply for e in expected), reply
    assert not any(n in reply for n in not_expected), reply
    await no_case_opened(chat)


async def test_the_template_is_sent_as_a_file(engine: DialogueEngine) -> None:
    replies = await Chat(engine, "tpl").say("承诺书模板在哪里下载？")
    files = [r.document for r in replies if r.document is not None]
    assert len(files) == 1 and files[0].name.endswith(".docx")
    assert files[0].path == str(ROOT / "data" / "templates" / "commitment_letter.docx")
    assert "承诺书模板" in replies[0].text


@pytest.mark.parametrize("text", ["1", "下个月", "2"])
async def test_short_replies_are_not_goodbye(engine: DialogueEngine, text: str) -> None:
    reply = text_of(await Chat(engine, f"short-{text}").say(text))
    assert "再见" not in reply
    assert "没有理解" in reply or "不确定" in reply or "没太明白" in reply, reply


async def test_a_bare_number_says_what_it_did_not_understand(engine: DialogueEngine) -> None:
    reply = text_of(await Chat(engine, "n1").say("1"))
    assert "“1”" in reply and "按钮" in reply


async def test_documents_outside_a_form_name_each_case_type(engine: DialogueEngine) -> None:
    reply = text_of(await Chat(engine, "docs").say("要交什么材料"))
    for title in ("申报更正", "完税证明", "发票申领", "退税申请", "登记信息变更"):
        assert title in reply
    assert "承诺书" in reply and "营业执照" in reply


async def test_documents_of_a_named_case_type(engine: DialogueEngine) -> None:
    reply = text_of(await Chat(engine, "docs2").say("申领发票需要什么资料"))
    assert "发票申领" in reply and "营业执照" in reply and "承诺书" not in reply


# ------------------------------------------------------------------ mid-form questions


async def correction_waiting_for_letter(chat: Chat) -> None:
    await chat.say("我要更正增值税申报")
    await chat.say("2025年3月")
    reply = text_of(await chat.say(GOOD_ID))
    assert "承诺书" in reply


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("承诺书模板在哪里下载？", "承诺书模板"),
        ("要交什么材料", "办理「申报更正」需要"),
        ("地址在哪里？怎么坐车过去", "公交"),
        ("我想预约明天上午去办", "不能预约"),
        ("2025年个税汇算清缴退税怎么办理", "个人所得税"),
        ("电话多少", "12366"),
        ("多久能办好", "「申报更正」提交后 1 个工作日内办结"),
        ("要几天才能办完", "「申报更正」提交后 1 个工作日内办结"),
    ],
)
async def test_a_question_mid_form_is_answered_and_the_form_goes_on(
    engine: DialogueEngine, gateway: FakeGateway, question: str, answer: str
) -> None:
    chat = Chat(engine, f"mid-{hash(question) % 10_000}")
    await correction_waiting_for_letter(chat)
    before = await chat.tracker()
    replies = await chat.say(question)
    text = text_of(replies)
    assert answer in text
    assert replies[-1].text.strip().endswith("请上传盖章的承诺书（PDF 或照片）。")  # asked again
    after = await chat.tracker()
    assert after.active_form == "return_correction"
    assert after.slots == before.slots  # a period in the question does not change the form
    assert "材料收集中" not in text
    # and the form still takes the letter
    reply = text_of(await chat.send_files(1, caption="承诺书"))
    assert "承诺书 ✓" in reply


async def test_an_invoice_increase_opens_the_invoice_case_and_says_it_covers_it(
    engine: DialogueEngine,
) -> None:
    chat = Chat(engine, "increase")
    reply = text_of(await chat.say("发票不够用了想增量"))
    assert "发票申领" in reply and "增量" in reply
    assert (await chat.tracker()).active_form == "invoice"


async def test_social_insurance_is_never_a_correction_form(engine: DialogueEngine) -> None:
    """ "我要办社保缴费基数调整" named the social insurance fee, and opened a return correction
    for it; the chat does not handle social insurance: it says where to go."""
    chat = Chat(engine, "shebao")
    reply = text_of(await chat.say("我要办社保缴费基数调整"))
    assert "不在这里办理" in reply and "电子税务局" in reply and "12333" in reply
    await no_case_opened(chat)
    # a correction of a filed social insurance return is still a correction
    await chat.say("上个月社保费申报错了要更正")
    assert (await chat.tracker()).active_form == "return_correction"


async def test_where_to_find_the_id_while_it_is_asked(engine: DialogueEngine) -> None:
    chat = Chat(engine, "mid-where-id")
    await chat.say("申领发票")
    replies = await chat.say("纳税人识别号在哪里看")
    reply = text_of(replies)
    assert "营业执照" in reply and "身份证号码" in reply
    assert "纳税人识别号" in replies[-1].text.splitlines()[-1]  # asked again
    tracker = await chat.tracker()
    assert tracker.active_form == "invoice" and tracker.get_slot("taxpayer_id") is None
    await chat.say(GOOD_ID)  # and the form still takes the ID
    assert (await chat.tracker()).get_slot("taxpayer_id") == GOOD_ID


async def test_words_naming_the_kept_file_after_status_label_it(engine: DialogueEngine) -> None:
    """ "刚才那个就是承诺书" answers "这个文件是承诺书吗？", never cancels the case."""
    chat = Chat(engine, "mid-file-words")
    await correction_waiting_for_letter(chat)
    await chat.send_files(1)
    await chat.say("/status")
    reply = text_of(await chat.say("刚才那个就是承诺书"))
    assert "承诺书 ✓" in reply and "已取消" not in reply
    assert (await chat.tracker()).active_form == "return_correction"


async def test_documents_mid_form_is_that_case_types_checklist(engine: DialogueEngine) -> None:
    chat = Chat(engine, "mid-docs")
    await chat.say("申请退税")
    reply = text_of(await chat.say("要交什么材料"))
    assert "退税申请表" in reply and "承诺书" not in reply
    assert "所属期" in reply.splitlines()[-1]  # the form's question again


# ------------------------------------------------------------------ two requests


async def test_two_requests_in_one_message_get_both(
    engine: DialogueEngine, gateway: FakeGateway
) -> None:
    chat = Chat(engine, "two")
    reply = text_of(await chat.say("我要更正增值税申报，顺便开个完税证明"))
    assert "申报更正" in reply and "完税证明" in reply
    tracker = await chat.tracker()
    assert tracker.active_form == "return_correction"
    assert [q["case_type"] for q in tracker.queued] == ["tax_certificate"]
    await chat.say("2025年3月")
    await chat.say(GOOD_ID)
    await chat.send_files(1, caption="承诺书")
    replies = await chat.say("提交")
    text = text_of(replies)
    assert "已受理" in text
    assert "您还提到要办「完税证明」，现在办吗？" in text
    offer = [p for p in payloads(replies) if p.startswith("/choose_case_type")]
    assert offer and '"tax_certificate"' in offer[0]
    reply = text_of(await chat.press(offer[0]))
    assert "完税证明" in reply and "所属期" in reply
    tracker = await chat.tracker()
    assert tracker.active_form == "tax_certificate" and tracker.queued == []
    assert tracker.get_slot("taxpayer_id") == GOOD_ID  # kept from the first case


async def test_second_request_keeps_its_own_values_and_yes_takes_it(
    engine: DialogueEngine, gateway: FakeGateway
) -> None:
    """DIALOGUES §14: the period of the second clause belongs to the second request."""
    chat = Chat(engine, "two-b")
    reply = text_of(await chat.say("我要开完税证明，另外上个月的增值税报错了要更正"))
    assert "完税证明" in reply and "申报更正" in reply
    tracker = await chat.tracker()
    assert tracker.active_form == "tax_certificate"
    assert tracker.get_slot("tax_period") is None  # 上个月 is the correction's
    assert tracker.queued[0]["slots"].get("tax_period") == "2026-11"
    await chat.say("2025年")
    await chat.say(GOOD_ID)
    text = text_of(await chat.say("提交"))
    assert "现在办吗" in text
    reply = text_of(await chat.say("好的"))
    assert "申报更正" in reply and "2026年11月" in reply and "增值税" in reply
    assert (await chat.tracker()).active_form == "return_correction"


async def test_declining_the_second_request(engine: DialogueEngine) -> None:
    chat = Chat(engine, "two-c")
    await chat.say("我要开完税证明，另外上个月的增值税报错了要更正")
    text = text_of(await chat.say("算了不办了"))
    assert "已取消" in text and "现在办吗" in text
    text = text_of(await chat.press("/deny"))
    tracker = await chat.tracker()
    assert tracker.queued == [] and tracker.active_form is None


async def test_one_request_in_several_clauses_is_not_split(engine: DialogueEngine) -> None:
    chat = Chat(engine, "one")
    await chat.say(
        "你好，公司上個月的增值稅申報表填錯了，要更正，統一社會信用代碼91310115MA1K3YJ12G"
    )
    tracker = await chat.tracker()
    assert tracker.active_form == "return_correction" and tracker.queued == []


async def test_a_request_and_a_question_in_one_message_get_both(engine: DialogueEngine) -> None:
    chat = Chat(engine, "req-q")
    reply = text_of(await chat.say("申领发票，顺便问下周六开门吗"))
    assert "周六" in reply and "发票申领" in reply
    assert "纳税人识别号" in reply.splitlines()[-1]  # the form's question comes last
    assert (await chat.tracker()).active_form == "invoice"


async def test_the_template_beside_a_request_keeps_the_requests_values(
    engine: DialogueEngine,
) -> None:
    chat = Chat(engine, "req-template")
    replies = await chat.say("上个月增值税要更正，承诺书模板在哪下载")
    assert replies[0].document is not None  # the template file first
    assert "申报更正" in text_of(replies)
    tracker = await chat.tracker()
    assert tracker.active_form == "return_correction"
    assert tracker.get_slot("tax_period") == "2026-11" and tracker.get_slot("tax_type") == "vat"


async def test_status_and_a_new_request(engine: DialogueEngine) -> None:
    chat = Chat(engine, "status-new")
    reply = text_of(await chat.say("查一下进度，另外我还要开个完税证明"))
    assert "没有在办事项" in reply and "完税证明" in reply
    assert (await chat.tracker()).active_form == "tax_certificate"


async def test_values_and_a_question_mid_form(engine: DialogueEngine) -> None:
    chat = Chat(engine, "values-q")
    await chat.say("申领发票")
    replies = await chat.say(f"{GOOD_ID}，另外电话多少")
    reply = text_of(replies)
    assert "12366" in reply and "营业执照" in replies[-1].text.splitlines()[-1]
    tracker = await chat.tracker()
    assert tracker.active_form == "invoice" and tracker.get_slot("taxpayer_id") == GOOD_ID


async def test_two_questions_in_one_message_both_answered(engine: DialogueEngine) -> None:
    chat = Chat(engine, "q-q")
    reply = text_of(await chat.say("大厅几点开门，地址在哪"))
    assert "9:30" in reply and "地址" in reply
    await no_case_opened(chat)


async def test_the_id_after_the_second_request_is_the_first_ones_too(
    engine: DialogueEngine, gateway: FakeGateway
) -> None:
    chat = Chat(engine, "two-id")
    await chat.say(f"我要开2025年的完税证明，另外上个月的增值税报错了要更正，代码{GOOD_ID}")
    tracker = await chat.tracker()
    assert tracker.active_form == "tax_certificate"
    assert tracker.get_slot("taxpayer_id") == GOOD_ID
    text = text_of(await chat.press("/submit_case"))
    assert "已受理" in text and "申报更正" in text


# ------------------------------------------------------------------ complaints


async def test_a_complaint_is_recorded_and_the_chat_goes_on(
    engine: DialogueEngine, gateway: FakeGateway
) -> None:
    chat = Chat(engine, "complaint")
    reply = text_of(await chat.say("你们效率太低了 我要投诉"))
    assert len(gateway.complaints) == 1
    key, text, due = gateway.complaints[0]
    assert key == "telegram:complaint" and "效率太低" in text
    assert f"{due.month}月{due.day}日" in reply and "负责人" in reply
    assert not gateway.called("hand_over")
    reply = text_of(await chat.say("告诉我进度"))
    assert "在办事项" in reply  # understood: the status answer


async def test_a_complaint_mid_form_keeps_the_form(
    engine: DialogueEngine, gateway: FakeGateway
) -> None:
    chat = Chat(engine, "complaint-mid")
    await correction_waiting_for_letter(chat)
    replies = await chat.say("态度太差了")
    assert len(gateway.complaints) == 1
    assert replies[-1].text.strip().endswith("请上传盖章的承诺书（PDF 或照片）。")


async def test_traditional_questions_get_traditional_answers(engine: DialogueEngine) -> None:
    reply = text_of(await Chat(engine, "hant").say("承諾書模板在哪裡下載？"))
    assert "這是承諾書模板" in reply
    reply = text_of(await Chat(engine, "hant2").say("註銷稅務登記怎麼辦"))
    assert "清稅證明" in reply


@pytest.mark.parametrize("text", ["申请退个税", "退2024年的个人所得税", "我要退税 个税多扣了"])
async def test_an_individuals_iit_refund_is_never_the_company_refund_form(
    engine: DialogueEngine, text: str
) -> None:
    chat = Chat(engine, f"iit-{hash(text) % 10_000}")
    reply = text_of(await chat.say(text))
    assert "个人所得税" in reply and "App" in reply, reply
    assert "纳税人识别号" not in reply and "金额" not in reply
    await no_case_opened(chat)


async def test_a_company_refund_still_opens_the_refund_form(engine: DialogueEngine) -> None:
    chat = Chat(engine, "refund")
    reply = text_of(await chat.say("多交了增值税 申请退税"))
    assert "退税申请" in reply
    assert (await chat.tracker()).active_form == "refund"
