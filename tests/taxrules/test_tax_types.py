"""Tax types: words (Simplified) → canonical keys."""

from __future__ import annotations

import pytest

from taxrules.tax_types import TAX_TYPE_KEYS, TAX_TYPES, normalize_tax_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("增值税", "vat"),
        ("VAT", "vat"),
        ("vat", "vat"),
        ("增值", "vat"),
        ("增直税", "vat"),
        ("企业所得税", "cit"),
        ("企税", "cit"),
        ("个人所得税", "iit"),
        ("个税", "iit"),
        ("印花税", "stamp"),
        ("消费税", "consumption"),
        ("房产税", "property"),
        ("城镇土地使用税", "land_use"),
        ("城建税", "urban_construction"),
        ("城市维护建设税", "urban_construction"),
        ("教育费附加", "education_surcharge"),
        ("车船税", "vehicle"),
        ("社保费", "social_insurance"),
        ("社保", "social_insurance"),
        ("土地增值税", "land_vat"),
        ("土增税", "land_vat"),
        # inside longer text: leftmost, longest word
        ("我要更正土地增值税申报", "land_vat"),
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
    synonyms = {"增值说": "vat", "增值": "land_vat", "附加税": "education_surcharge"}
    assert normalize_tax_type("增值 说", synonyms) == "vat"  # keys compared without spaces
    assert normalize_tax_type("增值", synonyms) == "land_vat"
    assert normalize_tax_type("交一下附加税", synonyms) == "education_surcharge"
    assert normalize_tax_type("附加税") is None
    assert normalize_tax_type("增值") == "vat"


def test_every_canonical_key_is_reachable() -> None:
    for key, words in TAX_TYPES.items():
        for word in words:
            assert normalize_tax_type(word) == key, word


def test_key_set() -> None:
    assert TAX_TYPE_KEYS == set(TAX_TYPES)
    assert {"vat", "cit", "iit", "stamp"} <= TAX_TYPE_KEYS
