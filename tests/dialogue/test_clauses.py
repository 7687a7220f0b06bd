"""actions.clauses: splitting a message into clauses and grouping them into requests, with a
scripted NLU (the trained model's behaviour is in test_questions.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actions.clauses import answer_and_values, segments, split_clauses, split_requests
from actions.domain import Domain
from testing.dialogue import FakeInterpreter, parse

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(ROOT / "data")


def test_split_on_punctuation_and_joining_words() -> None:
    assert split_clauses("我要更正增值税申报，顺便开个完税证明") == [
        "我要更正增值税申报",
        "开个完税证明",
    ]
    assert split_clauses("开完税证明；另外上个月的增值税报错了") == [
        "开完税证明",
        "上个月的增值税报错了",
    ]
    assert split_clauses("申领发票然后还要退税") == ["申领发票", "退税"]
    assert split_clauses("我要开完税证明") == ["我要开完税证明"]


def test_clauses_without_a_request_go_with_the_request_before_them() -> None:
    groups = segments(
        [
            ("你好", None),
            ("我要更正", "return_correction"),
            ("增值税2025年3月", None),
            ("开个完税证明", "tax_certificate"),
            ("2021年的", None),
            ("还是更正那个", "return_correction"),
        ]
    )
    assert [(g.case_type, g.clauses) for g in groups] == [
        ("return_correction", ["你好", "我要更正", "增值税2025年3月", "还是更正那个"]),
        ("tax_certificate", ["开个完税证明", "2021年的"]),
    ]


def _nlu(script: dict[str, dict[str, Any]]) -> FakeInterpreter:
    return FakeInterpreter(script)


async def test_two_requests_first_handled_second_queued_with_its_values() -> None:
    nlu = _nlu(
        {
            "我要开完税证明": parse("request_tax_certificate"),
            "上个月的增值税报错了要更正": parse(
                "request_correction", tax_type="vat", tax_period="2026-11"
            ),
        }
    )
    whole = parse("request_tax_certificate", tax_period="2026-11")
    text = "我要开完税证明，另外上个月的增值税报错了要更正"
    out = await split_requests(text, whole, nlu.aparse, DOMAIN)
    assert out is not None
    assert out["intent"]["name"] == "request_tax_certificate"
    assert out["text"] == "我要开完税证明" and out["entities"] == []  # the period is not its
    assert out["queued_requests"] == [
        {"case_type": "return_correction", "slots": {"tax_type": "vat", "tax_period": "2026-11"}}
    ]


async def test_one_request_or_an_unsure_clause_is_left_whole() -> None:
    nlu = _nlu(
        {
            "公司上个月的增值税申报表填错了": parse("request_correction"),
            "要更正": parse("request_correction"),
            "顺手问下": parse("request_refund", 0.4),  # not sure: not a second request
        }
    )
    whole = parse("request_correction")
    assert (
        await split_requests("公司上个月的增值税申报表填错了，要更正", whole, nlu.aparse, DOMAIN)
        is None
    )
    assert await split_requests("要更正，顺手问下", whole, nlu.aparse, DOMAIN) is None


async def test_one_question_in_several_clauses_is_left_whole() -> None:
    nlu = _nlu({"发票开错了": parse("faq_invoice"), "怎么红冲": parse("faq_invoice")})
    whole = parse("faq_invoice")
    assert await split_requests("发票开错了，怎么红冲", whole, nlu.aparse, DOMAIN) is None
    assert await split_requests("发票开错了，怎么办", whole, nlu.aparse, DOMAIN) is None


async def test_a_request_and_a_question_both_handled() -> None:
    """ "申领发票，顺便问下周六开门吗": the request is handled from its own clauses, the
    question is answered from its own."""
    nlu = _nlu(
        {
            "申领发票": parse("request_invoice"),
            "问下周六开门吗": parse("faq_office_hours"),
            "代码91650100MA78ABCD1A": parse("provide_info", taxpayer_id="91650100MA78ABCD1A"),
        }
    )
    whole = parse("faq_office_hours")  # the whole message was taken as the question
    text = "申领发票，顺便问下周六开门吗，代码91650100MA78ABCD1A"
    out = await split_requests(text, whole, nlu.aparse, DOMAIN)
    assert out is not None
    assert out["intent"]["name"] == "request_invoice"
    assert out["text"] == "申领发票，代码91650100MA78ABCD1A"  # the question is not its value
    assert "queued_requests" not in out
    [question] = out["extra_questions"]
    assert question["intent"]["name"] == "faq_office_hours"
    assert question["text"] == "问下周六开门吗"


async def test_two_questions_both_answered_the_whole_messages_first() -> None:
    nlu = _nlu(
        {
            "大厅几点开门": parse("faq_office_hours"),
            "地址在哪": parse("faq_location"),
            "怎么坐车": parse("faq_location"),
        }
    )
    out = await split_requests(
        "地址在哪，大厅几点开门，怎么坐车", parse("faq_office_hours"), nlu.aparse, DOMAIN
    )
    assert out is not None
    assert (out["intent"]["name"], out["text"]) == ("faq_office_hours", "大厅几点开门")
    assert [(q["intent"]["name"], q["text"]) for q in out["extra_questions"]] == [
        ("faq_location", "地址在哪，怎么坐车")
    ]


async def test_values_and_a_question_keep_the_values() -> None:
    """Mid-form "9165…，另外地址在哪": the form still takes the ID; the question is answered."""
    nlu = _nlu({"地址在哪": parse("faq_location")})
    whole = parse("provide_info", taxpayer_id="91650100MA78ABCD1A")
    out = await split_requests("91650100MA78ABCD1A，另外地址在哪", whole, nlu.aparse, DOMAIN)
    assert out is not None
    assert out["intent"]["name"] == "provide_info" and out["entities"] == whole["entities"]
    assert [q["intent"]["name"] for q in out["extra_questions"]] == ["faq_location"]


async def test_a_question_with_values_gives_them_to_the_form_only_during_one() -> None:
    """Taken whole as the question ("9165…，另外电话多少"): the values clauses are kept
    aside; during a form that asks for them they are the answer and the question is
    answered too, else the question is all."""
    nlu = _nlu(
        {
            "91650100MA78ABCD1A": parse("provide_info", taxpayer_id="91650100MA78ABCD1A"),
            "电话多少": parse("faq_contact"),
        }
    )
    whole = parse("faq_contact", taxpayer_id="91650100MA78ABCD1A")
    out = await split_requests("91650100MA78ABCD1A，另外电话多少", whole, nlu.aparse, DOMAIN)
    assert out is not None and out["intent"]["name"] == "faq_contact"
    out["files"] = []
    during = answer_and_values(out, ("taxpayer_id",))
    assert during["intent"]["name"] == "provide_info"
    assert [e["value"] for e in during["entities"]] == ["91650100MA78ABCD1A"]
    assert during["files"] == []
    assert [q["intent"]["name"] for q in during["extra_questions"]] == ["faq_contact"]
    # a form that does not ask for these values leaves the question as it was
    assert answer_and_values(out, ("amount",)) is out


async def test_a_message_not_understood_whole_is_its_one_question() -> None:
    nlu = _nlu({"地址在哪": parse("faq_location")})
    whole = parse("nlu_fallback", 0.3)
    out = await split_requests("我想问一下，地址在哪", whole, nlu.aparse, DOMAIN)
    assert out is not None and out["intent"]["name"] == "faq_location"
    assert "extra_questions" not in out
    out = await split_requests("你好，地址在哪", parse("greet"), nlu.aparse, DOMAIN)
    assert out is not None and out["intent"]["name"] == "faq_location"


async def test_a_taxpayer_id_anywhere_belongs_to_every_request() -> None:
    """ "开2025年完税证明，另外上月增值税要更正，代码9165…": the ID after the second request
    is the company's, so the first request (handled now) has it too."""
    nlu = _nlu(
        {
            "我要开2025年的完税证明": parse("request_tax_certificate", tax_period="2025"),
            "上个月的增值税报错了要更正": parse(
                "request_correction", tax_type="vat", tax_period="2026-11"
            ),
            "代码91650100MA78ABCD1A": parse("provide_info", taxpayer_id="91650100MA78ABCD1A"),
        }
    )
    text = "我要开2025年的完税证明，另外上个月的增值税报错了要更正，代码91650100MA78ABCD1A"
    out = await split_requests(text, parse("request_tax_certificate"), nlu.aparse, DOMAIN)
    assert out is not None
    values = {e["entity"]: e["value"] for e in out["entities"]}
    assert values == {"tax_period": "2025", "taxpayer_id": "91650100MA78ABCD1A"}
    assert out["queued_requests"][0]["slots"]["taxpayer_id"] == "91650100MA78ABCD1A"
