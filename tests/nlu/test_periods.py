"""The tax_period entity is read from the whole message, not from the piece an extractor
marked (the CRF's "2月" of "12月", "5年3季度" of "25年3季度", the regex's "2025" of
"2025年Q3"), and it does not take the message's other entities with it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from nlu.normalizers import normalize_entities

DEC_1 = date(2026, 12, 1)
ID = "91650100MA78ABCD1A"
KINDS = {"tax_period": "tax_period", "taxpayer_id": "taxpayer_id", "tax_type": "tax_type"}


def _entity(entity: str, text: str, part: str, extractor: str, **kw: Any) -> dict[str, Any]:
    start = text.index(part)
    return {
        "entity": entity,
        "start": start,
        "end": start + len(part),
        "value": part,
        "extractor": extractor,
        **kw,
    }


def test_fragments_marked_by_extractors_become_the_period_of_the_message() -> None:
    text = f"2025年13月增值税更正 {ID}"
    entities = [
        _entity("tax_period", text, "2025", "RegexEntityExtractor"),
        _entity("taxpayer_id", text, "1", "CRFEntityExtractor"),
        _entity("tax_period", text, "3月", "CRFEntityExtractor"),
        _entity("taxpayer_id", text, ID, "RegexEntityExtractor"),
    ]
    normalize_entities(entities, text, DEC_1, KINDS)
    periods = [e for e in entities if e["entity"] == "tax_period"]
    assert len(periods) == 1
    assert periods[0]["invalid"] and "月份应在1到12之间" in periods[0]["reason"]
    assert periods[0]["text"] == "2025年13月"
    assert [e["value"] for e in entities if e["entity"] == "taxpayer_id"] == [ID]


def test_an_exact_span_keeps_its_extractor() -> None:
    text = "我要更正2020年第一季度的申报"
    entities = [_entity("tax_period", text, "2020年第一季度", "CRFEntityExtractor")]
    normalize_entities(entities, text, DEC_1, KINDS)
    (period,) = entities
    assert period["value"] == "2020-Q1" and period["extractor"] == "CRFEntityExtractor"


def test_no_period_is_added_where_no_extractor_saw_one() -> None:
    text = "12月3日前能办好吗"
    entities: list[dict[str, Any]] = []
    normalize_entities(entities, text, DEC_1, KINDS)
    assert entities == []
    entities = [_entity("tax_period", text, "2月", "CRFEntityExtractor")]
    normalize_entities(entities, text, DEC_1, KINDS)
    assert [(e["value"], e["text"]) for e in entities] == [("2025-12", "12月")]


@pytest.mark.parametrize(
    ("text", "period", "others"),
    [
        ("12月的增值税申报表要更正一下", "2025-12", {"tax_type": "vat"}),
        ("2025年Q3的增值税要更正", "2025-Q3", {"tax_type": "vat"}),
        (f"25年3季度增值税申报更正，代码{ID}", "2025-Q3", {"tax_type": "vat", "taxpayer_id": ID}),
        (f"25年3季度增值稅申報更正，代碼{ID}", "2025-Q3", {"tax_type": "vat", "taxpayer_id": ID}),
        ("2025年上半年", "2025-H1", {}),
        ("要最近兩年的完稅證明", "2024..2025", {}),
        ("开近3年的纳税证明", "2023..2025", {}),  # a regex, not the CRF's luck (it lost 兩年)
    ],
)
async def test_the_trained_model_gives_one_period_and_keeps_the_rest(
    interpreter: Any, text: str, period: str, others: dict[str, str]
) -> None:
    result = await interpreter.aparse(text, DEC_1)
    periods = [e for e in result["entities"] if e["entity"] == "tax_period"]
    assert [(e["value"], bool(e.get("invalid"))) for e in periods] == [(period, False)]
    rest = {e["entity"]: e["value"] for e in result["entities"] if e["entity"] != "tax_period"}
    assert rest == others
