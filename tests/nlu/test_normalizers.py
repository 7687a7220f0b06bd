"""Tests for nlu.normalizers: the script step before the rules of `taxrules`, the entity glue,
and the training data (every annotation normalises). The rules' own tests are in
tests/taxrules."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from nlu.normalizers import normalize_entities, to_simplified
from taxrules.amounts import normalize_amount
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import validate_taxpayer_id
from taxrules.periods import normalize_tax_period
from taxrules.tax_types import TAX_TYPES, normalize_tax_type

TODAY = datetime.date(2026, 11, 27)


# --------------------------------------------------------------------------- script
# The rules of `taxrules` read Simplified text; the NLU converts Traditional first.


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("所屬期為2019年12月", "tax_period", "2019-12"),
        ("3月我需要更正所屬期為2019年12月的增值稅申報表", "tax_period", "2019-12"),
        ("上個月", "tax_period", "2026-10"),
        ("這個月", "tax_period", "2026-11"),
        ("公司上個月的增值稅申報表填錯了", "tax_period", "2026-10"),
        ("個稅，今年一季度", "tax_period", "2026-Q1"),
        ("這個季度", "tax_period", "2026-Q4"),
        ("增值稅", "tax_type", "vat"),
        ("企業所得稅", "tax_type", "cit"),
        ("個人所得稅", "tax_type", "iit"),
        ("個稅", "tax_type", "iit"),
        ("印花稅", "tax_type", "stamp"),
        ("消費稅", "tax_type", "consumption"),
        ("城鎮土地使用稅", "tax_type", "land_use"),
        ("資源稅", "tax_type", "resource"),
        ("土地增值稅", "tax_type", "land_vat"),
        ("更正一下增值稅申報表", "tax_type", "vat"),
        ("一萬二", "amount", "12000"),
        ("五千塊錢", "amount", "5000"),
    ],
)
def test_traditional_text_through_the_script_step(text: str, kind: str, expected: str) -> None:
    simplified = to_simplified(text)
    if kind == "tax_period":
        assert normalize_tax_period(simplified, TODAY) == expected
    elif kind == "tax_type":
        assert normalize_tax_type(simplified) == expected
    else:
        assert str(normalize_amount(simplified)) == expected


def test_traditional_synonyms_are_compared_after_the_script_step() -> None:
    synonyms = {to_simplified("增值説"): "vat"}
    assert normalize_tax_type(to_simplified("增值說"), synonyms) == "vat"


def test_to_simplified() -> None:
    assert to_simplified("增值稅申報表") == "增值税申报表"
    assert to_simplified("ＡＢＣ１２３") == "ABC123"
    assert to_simplified("plain ascii") == "plain ascii"


# --------------------------------------------------------------------------- training data
# data/nlu.yml is the normalisers' main customer: every annotation in it must normalise.

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "nlu.yml"
INTENTS = {
    "greet", "goodbye", "thank", "affirm", "deny", "request_correction",
    "request_tax_certificate", "request_invoice", "request_refund",
    "request_registration_change", "submit_document", "provide_info", "check_status",
    "cancel_request", "request_human", "faq_office_hours", "faq_online_services",
    "ask_policy", "complaint", "out_of_scope", "verify", "help",
}  # fmt: skip
ENTITIES = {"tax_period", "taxpayer_id", "tax_type", "amount"}
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|(?P<json>\{[^}]*\}))")


@dataclasses.dataclass
class Annotation:
    intent: str
    example: str
    text: str
    entity: str
    value: str | None


def _blocks(kind: str) -> dict[str, list[str]]:
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    assert data["version"] == "3.1"
    return {
        block[kind]: [line[2:] for line in block["examples"].splitlines() if line.strip()]
        for block in data["nlu"]
        if kind in block
    }


def _annotations() -> list[Annotation]:
    found = []
    for intent, examples in _blocks("intent").items():
        for example in examples:
            for match in ANNOTATION.finditer(example):
                if match.group("json"):
                    spec = json.loads(match.group("json"))
                    entity, value = spec["entity"], spec.get("value")
                else:
                    entity, value = match.group("entity"), None
                found.append(Annotation(intent, example, match.group("text"), entity, value))
    return found


def _synonyms() -> dict[str, str]:
    return {word: key for key, words in _blocks("synonym").items() for word in words}


def test_data_has_every_intent_with_enough_examples() -> None:
    intents = _blocks("intent")
    assert set(intents) == INTENTS
    for intent, examples in intents.items():
        assert len(examples) >= (50 if intent.startswith("request_") else 40), intent


def test_no_example_is_listed_under_two_intents() -> None:
    owner: dict[str, str] = {}
    for intent, examples in _blocks("intent").items():
        for example in examples:
            key = to_simplified(ANNOTATION.sub(r"\g<text>", example)).lower().replace(" ", "")
            assert owner.setdefault(key, intent) == intent, (example, owner[key], intent)


def test_every_annotation_normalises() -> None:
    synonyms = {to_simplified(word): key for word, key in _synonyms().items()}
    annotations = _annotations()
    assert {a.entity for a in annotations} == ENTITIES
    for a in annotations:
        text = to_simplified(a.text)
        if a.entity == "tax_period":
            assert normalize_tax_period(text, TODAY) is not None, a
        elif a.entity == "taxpayer_id":
            assert validate_taxpayer_id(a.text, today=TODAY), a
        elif a.entity == "amount":
            assert normalize_amount(text) is not None, a
        else:
            assert a.entity == "tax_type", a
            expected = a.value or synonyms.get(text)
            assert expected in TAX_TYPES, a
            assert normalize_tax_type(text, synonyms) == expected, a


def test_synonyms_and_lookups_name_known_tax_types() -> None:
    for word, key in _synonyms().items():
        assert key in TAX_TYPES
        assert normalize_tax_type(to_simplified(word)) == key, word
    for word in _blocks("lookup")["tax_type"]:
        assert normalize_tax_type(to_simplified(word)) is not None, word


def test_regexes_match_the_annotated_spans() -> None:
    regexes = {
        name: [re.compile(p, re.IGNORECASE) for p in patterns]  # as the extractor compiles
        for name, patterns in _blocks("regex").items()
    }
    assert {"taxpayer_id", "tax_period", "amount"} <= set(regexes)
    for a in _annotations():
        if a.entity == "taxpayer_id":
            assert any(p.fullmatch(a.text) for p in regexes["taxpayer_id"]), a
    found = ["91650100MA78ABCD1B", "91310115MA1K3YJ12G", "110101199003074514"]
    found += ["11010519491231002x", "330100799655058"]  # resident IDs, a refused 15-char number
    for code in found:  # the regex finds, the check judges
        assert any(p.search(f"代码{code}。") for p in regexes["taxpayer_id"]), code


# --------------------------------------------------------------------------- entity glue


def _entity(text: str, value: str) -> dict[str, Any]:
    start = text.index(value)
    return {"entity": "taxpayer_id", "start": start, "end": start + len(value), "value": value}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91310115MA1K3YJ12G", None),
        ("110101199003074514", None),
        ("11010519491231002x", None),
        ("110101199003074513", "校验位"),
        ("110101199002304516", "出生日期"),
        ("110101203001014510", "晚于今天"),
        ("330100799655058", "15位税务登记号已停用"),
    ],
)
def test_taxpayer_id_entities_are_checked(code: str, reason: str | None) -> None:
    text = f"我是个体户，号码{code}"
    entities = [_entity(text, code)]
    normalize_entities(entities, text, TODAY, {"taxpayer_id": "taxpayer_id"})
    (entity,) = entities
    assert entity["value"] == code.upper()
    if reason is None:
        assert "invalid" not in entity
    else:
        assert entity["invalid"] is True and reason in entity["reason"]
        with pytest.raises(InvalidTaxpayerIdError):
            validate_taxpayer_id(code, today=TODAY)
