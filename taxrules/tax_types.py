"""Tax types: the canonical keys (`vat`, `cit`, `iit`, `stamp`, …) and the built-in words that
name them. More words (both scripts) are `- synonym:` blocks of the NLU training data in
`data/`; callers pass them as `synonyms`.

Input is Simplified Chinese (callers convert Traditional first; the NLU does, with OpenCC);
full-width forms and case are folded here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

__all__ = ["FILING_PERIODS", "TAX_TYPES", "TAX_TYPE_KEYS", "normalize_tax_type"]

TAX_TYPES: dict[str, tuple[str, ...]] = {
    "vat": ("增值税", "增值", "vat", "增直税", "增殖税", "曾值税", "増值税"),
    "cit": ("企业所得税", "企业所得", "企税", "公司所得税", "法人所得税", "cit"),
    "iit": ("个人所得税", "个人所得", "个税", "个调税", "iit"),
    "stamp": ("印花税", "印花"),
    "consumption": ("消费税",),
    "property": ("房产税",),
    "land_use": ("城镇土地使用税", "土地使用税"),
    "urban_construction": ("城市维护建设税", "城市建设维护税", "城建税", "城维税"),
    "education_surcharge": ("教育费附加", "地方教育附加", "教育附加", "教育费"),
    "resource": ("资源税",),
    "vehicle": ("车船税", "车船使用税"),
    "social_insurance": ("社会保险费", "社会保险", "社保费", "社保"),
    "land_vat": ("土地增值税", "土地增值", "土增税"),
}
"""Canonical tax type keys and the (Simplified, lower-case) words that name them."""

TAX_TYPE_KEYS: frozenset[str] = frozenset(TAX_TYPES)
"""The canonical tax type keys."""

FILING_PERIODS: dict[str, tuple[str, ...]] = {
    "vat": ("month", "quarter"),  # 按月或按季申报
    "cit": ("quarter", "year"),  # 按季预缴，年度汇算清缴
    "iit": ("month", "quarter", "year"),  # 扣缴按月，经营所得按季预缴，汇算按年
    # 印花税法：按季、按年或按次; a 按次 return is for the month the duty arose in
    "stamp": ("month", "quarter", "year"),
    "consumption": ("month", "quarter"),
    "urban_construction": ("month", "quarter"),  # with the VAT / consumption tax it follows
    "education_surcharge": ("month", "quarter"),
    "resource": ("month", "quarter"),
    "social_insurance": ("month",),
    "vehicle": ("year",),
}
"""The kinds of period (`taxrules.periods.PERIOD_KINDS`) a return of each tax is filed for;
a tax not listed may be filed for any."""


def _tax_key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


@lru_cache(maxsize=1)
def _builtin_tax_words() -> dict[str, str]:
    return {word: key for key, words in TAX_TYPES.items() for word in words}


def _tax_word_pattern(words: list[str]) -> re.Pattern[str]:
    parts = []
    for word in sorted(words, key=len, reverse=True):
        escaped = re.escape(word)
        parts.append(rf"(?<![a-z]){escaped}(?![a-z])" if word.isascii() else escaped)
    return re.compile("|".join(parts))


@lru_cache(maxsize=1)
def _builtin_tax_pattern() -> re.Pattern[str]:
    return _tax_word_pattern(list(_builtin_tax_words()))


def normalize_tax_type(text: str, synonyms: Mapping[str, str] | None = None) -> str | None:
    """Map a tax type mention to its canonical key (``vat``, ``cit``, ``iit``, ``stamp``, …).

    ``synonyms`` (word → key, e.g. from the ``- synonym:`` blocks of the training data) take
    precedence over the built-in table ``TAX_TYPES``. ``text`` may be the bare mention or a
    longer message; the leftmost, longest known word wins, so 土地增值税 is ``land_vat``,
    never ``vat``. Returns ``None`` when no tax type is named.
    """
    key = _tax_key(text)
    if not key:
        return None
    extra = {_tax_key(word): value for word, value in (synonyms or {}).items() if word.strip()}
    if key in extra:
        return extra[key]
    table = _builtin_tax_words()
    if key in table:
        return table[key]
    if extra:
        words = {**table, **extra}
        pattern = _tax_word_pattern(list(words))
    else:
        words, pattern = table, _builtin_tax_pattern()
    match = pattern.search(key)
    return words[match.group(0)] if match else None
