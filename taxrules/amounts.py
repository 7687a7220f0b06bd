"""Money amounts in yuan: 3000元, 1.25万, ¥12,500, 一万二, 三块五, 12块3毛4分 → `Decimal`.

Input is Simplified Chinese (callers convert Traditional first; the NLU does, with OpenCC);
full-width forms are folded here.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from taxrules.numerals import CN_DIGIT_CHARS, CN_DIGITS, parse_number

__all__ = ["normalize_amount"]

_ARABIC = r"\d+(?:\.\d+)?"
_NUMBER_CHARS = rf"[\d.,{CN_DIGIT_CHARS}十百千万亿点kKwW]"
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CURRENCY_PREFIX = r"(?:¥|\$|rmb|cny|人民币)"
_CURRENCY_SUFFIX = r"(?:元整|元|圆|块钱|块|rmb|cny)"
_MARKED_AMOUNT = re.compile(
    rf"{_CURRENCY_PREFIX}\s*(?P<a>{_NUMBER_CHARS}+)"
    rf"|(?P<b>{_NUMBER_CHARS}+)\s*{_CURRENCY_SUFFIX}"
    rf"|(?P<c>{_ARABIC}\s*[万亿])",
    re.IGNORECASE,
)


def _clean_decimal(value: Decimal) -> Decimal:
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _amount_from_span(span: str) -> Decimal | None:
    span = span.replace(" ", "")
    if "," in span:
        grouped = _GROUPED.search(span)
        if not grouped:
            return None
        span = span.replace(grouped.group(0), grouped.group(0).replace(",", ""))
    try:
        value = parse_number(span)
    except InvalidOperation:
        return None
    return None if value is None else _clean_decimal(value)


_SMALL_DIGIT = rf"[0-9{CN_DIGIT_CHARS}]"
_YUAN_JIAO_FEN = re.compile(
    rf"(?P<y>{_NUMBER_CHARS}+?)\s*(?:元|块|圆)\s*(?:(?P<j>{_SMALL_DIGIT})\s*(?:角|毛)?)?"
    rf"\s*(?:零?\s*(?P<f>{_SMALL_DIGIT})\s*分)?(?:钱)?"
)


def _small_digit(ch: str | None) -> int:
    if not ch:
        return 0
    return int(ch) if ch.isdigit() else CN_DIGITS[ch]


def _amount_with_jiao(text: str) -> Decimal | None:
    """3元5角, 三块五, 12块3毛4分: yuan with a trailing 角 (tenths) and/or 分 (hundredths)."""
    match = _YUAN_JIAO_FEN.fullmatch(text)
    if not match or not (match.group("j") or match.group("f")):
        return None
    yuan = _amount_from_span(match.group("y"))
    if yuan is None:
        return None
    cents = _small_digit(match.group("j")) * 10 + _small_digit(match.group("f"))
    return _clean_decimal(yuan + Decimal(cents) / 100)


def normalize_amount(text: str) -> Decimal | None:
    """Parse a money amount in yuan: 3000元, 1.25万, ¥12,500, 12500.00, 一万二, 3千, 1.2亿.

    When ``text`` is more than an amount (e.g. 销售额是125,000元), the first amount marked as
    money (¥/人民币 before it, 元/块 after it, or a 万/亿 unit) is taken. 角/分 are understood
    when the whole text is the amount (3元5角, 三块五). Returns ``None`` when no amount is found.
    """
    simplified = unicodedata.normalize("NFKC", text).strip().lower()
    unprefixed = re.sub(rf"^\s*{_CURRENCY_PREFIX}\s*", "", simplified)
    if (value := _amount_with_jiao(unprefixed)) is not None:
        return value
    bare = re.sub(rf"^\s*{_CURRENCY_PREFIX}\s*|\s*{_CURRENCY_SUFFIX}\s*$", "", simplified)
    bare = re.sub(r"(?<=\d)\s+(?=\d)", "", bare.strip())
    if bare and (value := _amount_from_span(bare)) is not None:
        return value
    for match in _MARKED_AMOUNT.finditer(simplified):
        raw = (match.group("a") or match.group("b") or match.group("c")).strip(",.")
        if (value := _amount_from_span(raw)) is not None:
            return value
    return None
