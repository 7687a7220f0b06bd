"""The everyday-question intents (issue 9 point 4) against the model trained from data/:
held-out paraphrases (never in the training data) keep their intent, and questions are not
confused with the requests that open a case form ("怎么红冲" asks, "我要申领发票" requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlu.normalizers import to_simplified
from nlu.training_data import load_training_data

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

HELD_OUT: dict[str, list[str]] = {
    "faq_invoice": [
        "开错的发票要怎么冲红啊",
        "紅字發票要怎麼申請",
        "数电票开错了咋办",
        "代开发票要去哪里办理",
        "发票抬头开错了能改吗",
        "红冲以后怎么重开",
    ],
    "faq_deregistration": [
        "我们公司想注销 税务这边要怎么弄",
        "個體戶不做了要怎麼註銷",
        "清税证明去哪里开",
        "注销税务需要多长时间",
        "简易注销要什么条件",
    ],
    "faq_iit": [
        "个税年度汇算怎么退钱",
        "個人所得稅匯算在哪裡辦",
        "工资多扣的个税怎么退回来",
        "个税退税什么时候到账",
        "怎么打印个人的纳税记录",
    ],
    "faq_documents": [
        "办这个需要准备什么材料",
        "要提交哪些资料",
        "需要帶哪些材料過去",
        "都要上传些什么",
        "材料要准备哪些",
    ],
    "faq_template": [
        "承诺书有模板可以下载吗",
        "承諾書的模板發我",
        "承诺书不会写 有样本吗",
        "哪里有承诺书模版",
        "承诺书格式是什么样的",
    ],
    "faq_location": [
        "你们办税大厅地址是哪里",
        "稅務局大廳怎麼走",
        "坐公交到大厅怎么坐",
        "办税厅在什么位置",
        "大厅那边好停车吗",
    ],
    "faq_taxpayer_id": [
        "纳税人识别号在哪儿能看到",
        "公司税号从哪查",
        "統一社會信用代碼去哪找",
        "不知道识别号是多少",
        "营业执照上的哪个号是识别号",
    ],
    "faq_social_insurance": [
        "公司社保缴费基数要调整 在哪办",
        "社保基数今年怎么申报",
        "個人靈活就業的社保去哪交",
        "给新来的员工加社保怎么操作",
        "社保少交了几个月怎么补",
    ],
    "faq_contact": [
        "你们的联系电话给一个",
        "辦稅廳的電話號碼",
        "打什么电话可以咨询",
        "有咨询电话吗",
        "怎么打电话联系你们",
    ],
    "faq_appointment": [
        "我想预约后天去大厅",
        "能幫我預約一下嗎",
        "去办税厅需要提前预约吗",
        "预约要怎么操作",
        "可不可以约个号",
    ],
    "praise": [
        "非常满意 谢谢你们",
        "服务真好",
        "真的很滿意",
        "办得不错 点赞",
        "挺满意的",
    ],
}

# Requests still open their case form; questions about the same matter do not.
ROUTES = [
    ("发票开错了怎么红冲", "faq_invoice"),
    ("怎么红冲", "faq_invoice"),
    ("我要申领发票", "request_invoice"),
    ("申请发票增量", "request_invoice"),
    ("注销税务登记怎么办", "faq_deregistration"),
    ("公司名称变了 申请变更", "request_registration_change"),
    ("2025年个税汇算清缴退税怎么办理", "faq_iit"),
    ("我要退税", "request_refund"),
    ("多交了增值税 申请退税", "request_refund"),
    ("要交什么材料", "faq_documents"),
    ("我要开完税证明", "request_tax_certificate"),
    ("承诺书模板在哪里下载？", "faq_template"),
    ("地址在哪里？怎么坐车过去", "faq_location"),
    ("我想预约明天上午去办", "faq_appointment"),
    ("非常满意", "praise"),
    ("很好", "praise"),
    ("非常不满意", "complaint"),
    ("告诉我进度", "check_status"),
    ("纳税人识别号在哪里看", "faq_taxpayer_id"),
    ("纳税人识别号91650100MA78ABCD1A", "provide_info"),
    ("我要办社保缴费基数调整", "faq_social_insurance"),
    ("上个月社保费申报错了要更正", "request_correction"),
]


def _key(text: str) -> str:
    return "".join(to_simplified(text).lower().split())


def test_held_out_texts_are_not_training_data() -> None:
    training = {_key(ex.text) for ex in load_training_data([ROOT / "data"]).examples}
    held = [t for texts in HELD_OUT.values() for t in texts]
    assert [t for t in held if _key(t) in training] == []


@pytest.mark.parametrize("intent", sorted(HELD_OUT))
def test_held_out_paraphrases_keep_their_intent(interpreter: Any, intent: str) -> None:
    texts = HELD_OUT[intent]
    got = [interpreter.parse(to_simplified(t))["intent"]["name"] for t in texts]
    wrong = [(t, g) for t, g in zip(texts, got, strict=True) if g != intent]
    assert len(wrong) <= len(texts) // 5, wrong  # at most one in five


@pytest.mark.parametrize(("text", "intent"), ROUTES)
def test_questions_and_requests_route_apart(interpreter: Any, text: str, intent: str) -> None:
    result = interpreter.parse(to_simplified(text))
    assert result["intent"]["name"] == intent, result["intent_ranking"][:3]


def test_a_bare_digit_is_not_left_to_the_classifier() -> None:
    """The classifier reads "1" as goodbye (886, 88); the dialogue takes bare numbers before
    the NLU (`actions.policy.bare_number`), keeping 88/886 as goodbyes."""
    from actions.policy import bare_number

    assert bare_number("1") is not None and bare_number("1")["bare_number"]  # type: ignore[index]
    assert bare_number("2。") is not None
    assert bare_number("88") is None and bare_number("886") is None
    assert bare_number("3000元") is None and bare_number("91650100MA78ABCD1A") is None
