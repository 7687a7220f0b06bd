"""Amounts in yuan and Chinese numerals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taxrules.amounts import normalize_amount
from taxrules.numerals import cn_digit_string, cn_small_number, parse_number


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


@pytest.mark.parametrize(
    ("text", "value"),
    [("一", 1), ("十", 10), ("十二", 12), ("二十", 20), ("九十九", 99), ("一百", None)],
)
def test_cn_small_number(text: str, value: int | None) -> None:
    assert cn_small_number(text) == value


def test_cn_digit_string_and_parse_number() -> None:
    assert cn_digit_string("二〇一九") == "2019"
    assert parse_number("十二万五千") == Decimal(125000)
    assert parse_number("abc") is None
