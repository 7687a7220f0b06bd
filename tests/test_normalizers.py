"""Tests for nlu.normalizers: periods against a fixed today, taxpayer IDs, tax types, amounts."""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from nlu.normalizers import (
    TAX_TYPES,
    TaxpayerIdCheck,
    check_taxpayer_id,
    mask_taxpayer_id,
    normalize_amount,
    normalize_tax_period,
    normalize_tax_type,
    to_simplified,
    uscc_check_char,
)

TODAY = datetime.date(2026, 11, 27)


# --------------------------------------------------------------------------- tax_period


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # absolute months
        ("2019年12月", "2019-12"),
        ("2019年12月份", "2019-12"),
        ("2019 年 3 月", "2019-03"),
        ("2019-12", "2019-12"),
        ("2019/12", "2019-12"),
        ("2019.12", "2019-12"),
        ("2019-3", "2019-03"),
        ("201912", "2019-12"),
        ("202003", "2020-03"),
        ("19年12月", "2019-12"),
        ("二〇一九年十二月", "2019-12"),
        ("二零二零年三月", "2020-03"),
        ("２０１９年１２月", "2019-12"),
        ("2019年12月31日", "2019-12"),
        # Traditional script and whole sentences
        ("所屬期為2019年12月", "2019-12"),
        ("3月我需要更正所屬期為2019年12月的增值稅申報表", "2019-12"),
        ("3月我需要更正所属期为2019年12月的增值税申报表", "2019-12"),
        # relative months
        ("去年12月", "2025-12"),
        ("去年十二月", "2025-12"),
        ("今年3月", "2026-03"),
        ("前年5月", "2024-05"),
        ("上个月", "2026-10"),
        ("上個月", "2026-10"),
        ("上月", "2026-10"),
        ("上一个月", "2026-10"),
        ("上上个月", "2026-09"),
        ("本月", "2026-11"),
        ("这个月", "2026-11"),
        ("這個月", "2026-11"),
        ("公司上個月的增值稅申報表填錯了", "2026-10"),
        # bare months: not later than today's month -> this year, later -> last year
        ("11月", "2026-11"),
        ("3月", "2026-03"),
        ("12月", "2025-12"),
        ("十二月", "2025-12"),
        ("十一月份", "2026-11"),
        ("一月", "2026-01"),
        ("元月", "2026-01"),
        # quarters
        ("2020年第一季度", "2020-Q1"),
        ("2020年一季度", "2020-Q1"),
        ("2020年1季度", "2020-Q1"),
        ("2020Q1", "2020-Q1"),
        ("2020-Q1", "2020-Q1"),
        ("2020 q4", "2020-Q4"),
        ("今年一季度", "2026-Q1"),
        ("個稅，今年一季度", "2026-Q1"),
        ("去年第四季度", "2025-Q4"),
        ("第一季度", "2026-Q1"),
        ("一季度", "2026-Q1"),
        ("第四季度", "2026-Q4"),
        ("Q2", "2026-Q2"),
        ("上季度", "2026-Q3"),
        ("上个季度", "2026-Q3"),
        ("上一季度", "2026-Q3"),
        ("本季度", "2026-Q4"),
        ("這個季度", "2026-Q4"),
        # years
        ("去年", "2025"),
        ("今年", "2026"),
        ("前年", "2024"),
        ("上一年度", "2025"),
        ("本年度", "2026"),
        ("2021年", "2021"),
        ("2021年度", "2021"),
        ("2021", "2021"),
        ("2018年度的汇算清缴", "2018"),
        ("二〇二一年", "2021"),
    ],
)
def test_normalize_tax_period(text: str, expected: str) -> None:
    assert normalize_tax_period(text, TODAY) == expected


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (datetime.date(2026, 1, 5), "上个月", "2025-12"),
        (datetime.date(2026, 1, 5), "上上个月", "2025-11"),
        (datetime.date(2026, 2, 10), "上季度", "2025-Q4"),
        (datetime.date(2026, 2, 10), "二季度", "2025-Q2"),
        (datetime.date(2026, 2, 10), "一季度", "2026-Q1"),
        (datetime.date(2026, 3, 1), "3月", "2026-03"),
        (datetime.date(2026, 3, 1), "4月", "2025-04"),
        (datetime.date(2027, 6, 30), "去年12月", "2026-12"),
        (datetime.date(2027, 6, 30), "19年12月", "2019-12"),
        (datetime.date(2027, 6, 30), "99年12月", "1999-12"),
    ],
)
def test_relative_periods_follow_today(today: datetime.date, text: str, expected: str) -> None:
    assert normalize_tax_period(text, today) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "你好",
        "我要开发票",
        "91310115MA1K3YJ12G",
        "91650100MA78ABCD1A",
        "13月",
        "2019年13月",
        "3个月",
        "12500元",
        "1850年",
    ],
)
def test_normalize_tax_period_none(text: str) -> None:
    assert normalize_tax_period(text, TODAY) is None


def test_period_output_is_idempotent() -> None:
    for text in ["2019年12月", "上季度", "前年", "十二月"]:
        value = normalize_tax_period(text, TODAY)
        assert value is not None
        assert normalize_tax_period(value, TODAY) == value


# --------------------------------------------------------------------------- taxpayer_id

VALID_CODES = ["91650100MA78ABCD1A", "91310115MA1K3YJ12G", "91330100799655058B"]


@pytest.mark.parametrize("code", VALID_CODES)
def test_known_codes_are_valid(code: str) -> None:
    result = check_taxpayer_id(code)
    assert result == TaxpayerIdCheck(True, code, None)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("91310115ma1k3yj12g", "91310115MA1K3YJ12G"),
        (" 9131 0115 MA1K 3YJ1 2G ", "91310115MA1K3YJ12G"),
        ("91310115-MA1K3YJ12G", "91310115MA1K3YJ12G"),
        ("９１６５０１００ＭＡ７８ＡＢＣＤ１Ａ", "91650100MA78ABCD1A"),
    ],
)
def test_code_is_cleaned_before_checking(raw: str, value: str) -> None:
    result = check_taxpayer_id(raw)
    assert result.valid
    assert result.value == value


def test_wrong_check_digit_is_refused_with_reason() -> None:
    result = check_taxpayer_id("91650100MA78ABCD1B")
    assert not result.valid
    assert result.value == "91650100MA78ABCD1B"
    assert result.reason is not None and "校验" in result.reason and "最后一位" in result.reason


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "请提供"),
        ("9165010", "18位"),
        ("91650100MA78ABCD1AA", "19位"),
        ("91650100MA78ABCDIA", "第17位“I”"),
        ("91650100MO78ABCD1A", "第10位“O”"),
        ("9165010#MA78ABCD1A", "第8位“#”"),
        ("91AB0100MA78ABCD1A", "第3–8位"),
    ],
)
def test_invalid_codes_say_why(code: str, fragment: str) -> None:
    result = check_taxpayer_id(code)
    assert not result.valid
    assert result.reason is not None and fragment in result.reason


def test_check_char_matches_the_standard_on_random_codes() -> None:
    rng = random.Random(32100)
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [3**i % 31 for i in range(17)]  # GB 32100-2015: W_i = 3^(i-1) mod 31
    assert weights == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    for _ in range(200):
        body = rng.choice("159Y") + rng.choice("123") + "".join(rng.choices("0123456789", k=6))
        body += "".join(rng.choices(charset, k=9))
        check = uscc_check_char(body)
        total = sum(charset.index(c) * w for c, w in zip(body, weights, strict=True)) + (
            charset.index(check)
        )
        assert total % 31 == 0
        assert check_taxpayer_id(body + check).valid
        wrong = rng.choice([c for c in charset if c != check])
        assert not check_taxpayer_id(body + wrong).valid


def test_a_single_changed_character_is_caught() -> None:
    code = "91310115MA1K3YJ12G"
    for position in range(17):
        for ch in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if ch == code[position] or (2 <= position < 8 and not ch.isdigit()):
                continue
            changed = code[:position] + ch + code[position + 1 :]
            assert not check_taxpayer_id(changed).valid, changed


def test_uscc_check_char_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        uscc_check_char("91310115MA1K3YJ1")
    with pytest.raises(ValueError):
        uscc_check_char("91310115MA1K3YJ1I")


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        # region 330100 + organisation code 79965505-8 (embedded in 91330100799655058B)
        ("330100799655058", True),
        ("330100799655059", False),
        ("33010079965505X", False),
        ("AB0100799655058", False),
    ],
)
def test_old_fifteen_character_numbers(code: str, valid: bool) -> None:
    result = check_taxpayer_id(code)
    assert result.valid is valid
    assert (result.reason is None) is valid


def test_check_result_is_frozen() -> None:
    result = check_taxpayer_id(VALID_CODES[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.valid = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "masked"),
    [
        ("91310115MA1K3YJ12G", "9131****12G"),
        ("91650100ma78abcd1a", "9165****D1A"),
        (" 9131 0115 MA1K 3YJ1 2G", "9131****12G"),
        ("1234567", "****"),
        ("", "****"),
    ],
)
def test_mask_taxpayer_id(code: str, masked: str) -> None:
    assert mask_taxpayer_id(code) == masked


def test_mask_never_shows_the_middle() -> None:
    code = "91310115MA1K3YJ12G"
    assert code[4:15] not in mask_taxpayer_id(code)


# --------------------------------------------------------------------------- tax_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("增值税", "vat"),
        ("增值稅", "vat"),
        ("VAT", "vat"),
        ("vat", "vat"),
        ("增值", "vat"),
        ("增直税", "vat"),
        ("企业所得税", "cit"),
        ("企業所得稅", "cit"),
        ("企税", "cit"),
        ("个人所得税", "iit"),
        ("個人所得稅", "iit"),
        ("个税", "iit"),
        ("個稅", "iit"),
        ("印花税", "stamp"),
        ("印花稅", "stamp"),
        ("消费税", "consumption"),
        ("消費稅", "consumption"),
        ("房产税", "property"),
        ("城镇土地使用税", "land_use"),
        ("城鎮土地使用稅", "land_use"),
        ("城建税", "urban_construction"),
        ("城市维护建设税", "urban_construction"),
        ("教育费附加", "education_surcharge"),
        ("資源稅", "resource"),
        ("车船税", "vehicle"),
        ("社保费", "social_insurance"),
        ("社保", "social_insurance"),
        ("土地增值税", "land_vat"),
        ("土地增值稅", "land_vat"),
        ("土增税", "land_vat"),
        # inside longer text: leftmost, longest word
        ("我要更正土地增值税申报", "land_vat"),
        ("更正一下增值稅申報表", "vat"),
        ("我要交vat", "vat"),
        (" 增值税 ", "vat"),
    ],
)
def test_normalize_tax_type(text: str, expected: str) -> None:
    assert normalize_tax_type(text) == expected


@pytest.mark.parametrize(
    "text", ["", "所得税", "车辆购置税", "vats", "你好", "发票", "国家要增税吗"]
)
def test_normalize_tax_type_none(text: str) -> None:
    assert normalize_tax_type(text) is None


def test_synonyms_take_precedence_and_extend() -> None:
    synonyms = {"增值説": "vat", "增值": "land_vat", "附加税": "education_surcharge"}
    assert normalize_tax_type("增值说", synonyms) == "vat"  # key compared after t2s
    assert normalize_tax_type("增值", synonyms) == "land_vat"
    assert normalize_tax_type("交一下附加税", synonyms) == "education_surcharge"
    assert normalize_tax_type("附加税") is None
    assert normalize_tax_type("增值") == "vat"


def test_every_canonical_key_is_reachable() -> None:
    for key, words in TAX_TYPES.items():
        for word in words:
            assert normalize_tax_type(word) == key, word


# --------------------------------------------------------------------------- amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3000元", "3000"),
        ("3000", "3000"),
        ("1.25万", "12500"),
        ("1.25万元", "12500"),
        ("¥12,500", "12500"),
        ("￥12，500", "12500"),
        ("12500.00", "12500"),
        ("12,500.50元", "12500.5"),
        ("一万二", "12000"),
        ("一萬二", "12000"),
        ("3千", "3000"),
        ("三千五", "3500"),
        ("125,000 元", "125000"),
        ("1.2亿", "120000000"),
        ("1亿2000万", "120000000"),
        ("十二万五千", "125000"),
        ("12万5", "125000"),
        ("两百五", "250"),
        ("一百零五", "105"),
        ("一万零二", "10002"),
        ("二十五", "25"),
        ("十", "10"),
        ("一点五万", "15000"),
        ("3k", "3000"),
        ("1.2w", "12000"),
        ("人民币三万元整", "30000"),
        ("RMB 800", "800"),
        ("五千块", "5000"),
        ("五千塊錢", "5000"),
        ("三块五", "3.5"),
        ("3元5角", "3.5"),
        ("12块3毛4分", "12.34"),
        ("3元零5分", "3.05"),
        ("0.5元", "0.5"),
        # inside a sentence: the first amount marked as money
        ("更正后的销售额是125,000元", "125000"),
        ("2019年12月多缴了3000元", "3000"),
        ("退税金额¥1,200", "1200"),
        ("大概1.5万吧", "15000"),
    ],
)
def test_normalize_amount(text: str, expected: str) -> None:
    value = normalize_amount(text)
    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize("text", ["", "abc", "1,2", "我想问一下", "万", "百元", "2019年12月"])
def test_normalize_amount_none(text: str) -> None:
    assert normalize_amount(text) is None


# --------------------------------------------------------------------------- script


def test_to_simplified() -> None:
    assert to_simplified("增值稅申報表") == "增值税申报表"
    assert to_simplified("ＡＢＣ１２３") == "ABC123"
    assert to_simplified("plain ascii") == "plain ascii"


# --------------------------------------------------------------------------- training data
# data/nlu.yml is the normalisers' main customer: every annotation in it must normalise.

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "nlu.yml"
INTENTS = {
    "greet", "goodbye", "thank", "affirm", "deny", "request_correction",
    "request_tax_certificate", "request_invoice", "request_refund",
    "request_registration_change", "submit_document", "provide_info", "check_status",
    "cancel_request", "request_human", "faq_office_hours", "faq_online_services",
    "ask_policy", "complaint", "out_of_scope",
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
    synonyms = _synonyms()
    annotations = _annotations()
    assert {a.entity for a in annotations} == ENTITIES
    for a in annotations:
        if a.entity == "tax_period":
            assert normalize_tax_period(a.text, TODAY) is not None, a
        elif a.entity == "taxpayer_id":
            assert check_taxpayer_id(a.text).valid, a
        elif a.entity == "amount":
            assert normalize_amount(a.text) is not None, a
        else:
            assert a.entity == "tax_type", a
            expected = a.value or synonyms.get(a.text)
            assert expected in TAX_TYPES, a
            assert normalize_tax_type(a.text, synonyms) == expected, a


def test_synonyms_and_lookups_name_known_tax_types() -> None:
    for word, key in _synonyms().items():
        assert key in TAX_TYPES
        assert normalize_tax_type(word) == key, word
    for word in _blocks("lookup")["tax_type"]:
        assert normalize_tax_type(word) is not None, word


def test_regexes_match_the_annotated_spans() -> None:
    regexes = {
        name: [re.compile(p) for p in patterns] for name, patterns in _blocks("regex").items()
    }
    assert {"taxpayer_id", "tax_period", "amount"} <= set(regexes)
    for a in _annotations():
        if a.entity == "taxpayer_id":
            assert any(p.fullmatch(a.text) for p in regexes["taxpayer_id"]), a
    for code in ("91650100MA78ABCD1B", "91310115MA1K3YJ12G"):  # the regex finds, the check judges
        assert any(p.search(f"代码{code}。") for p in regexes["taxpayer_id"])
