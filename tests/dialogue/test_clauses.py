"""actions.clauses: splitting a message into clauses and grouping them into requests, with a
scripted NLU (the trained model's behaviour is in test_questions.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actions.clauses import segments, split_clauses, split_requests
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


async def test_a_question_is_never_split() -> None:
    nlu = _nlu({})
    whole = parse("faq_invoice")
    assert await split_requests("发票开错了，怎么红冲", whole, nlu.aparse, DOMAIN) is None
    assert nlu.seen == []  # no clause parsed for a message that is no request
