"""Normalisers for the entities of PRODUCT.md: tax_period, taxpayer_id, tax_type and amount.

Pure functions without I/O. Every function accepts Simplified and Traditional Chinese (and
full-width digits/letters): input goes through NFKC and OpenCC ``t2s`` first. The OpenCC
converter is created once, lazily, on first use.

Normal forms:

* tax_period: ``"2019-12"`` (month), ``"2020-Q1"`` (quarter), ``"2021"`` (year); relative
  expressions (上个月, 去年12月, 上季度, 前年 …) resolve against the ``today`` passed in.
* taxpayer_id: the 18-character unified social credit code (GB 32100-2015), upper-cased and
  without spaces, with its check character verified; old 15-character taxpayer numbers
  (6-digit region code + 9-character organisation code, GB 11714 check) are accepted too.
* tax_type: a canonical key such as ``vat``, ``cit``, ``iit``, ``stamp`` (see ``TAX_TYPES``).
* amount: a :class:`decimal.Decimal` in yuan.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

__all__ = [
    "TAX_TYPES",
    "TaxpayerIdCheck",
    "check_taxpayer_id",
    "mask_taxpayer_id",
    "normalize_amount",
    "normalize_tax_period",
    "normalize_tax_type",
    "to_simplified",
    "uscc_check_char",
]


# --------------------------------------------------------------------------- script


@lru_cache(maxsize=1)
def _t2s_converter() -> Callable[[str], str]:
    import opencc  # imported lazily: building the converter reads its dictionaries

    converter: Callable[[str], str] = opencc.OpenCC("t2s").convert
    return converter


def to_simplified(text: str) -> str:
    """Return ``text`` in Simplified Chinese with full-width ASCII folded (NFKC + OpenCC t2s)."""
    folded = unicodedata.normalize("NFKC", text)
    if folded.isascii():
        return folded
    return _t2s_converter()(folded)


# --------------------------------------------------------------------------- numerals

_CN_DIGITS = {
    "〇": 0,
    "○": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_DIGIT_CHARS = "".join(_CN_DIGITS)
_CN_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNITS = {"万": 10**4, "亿": 10**8}


def _cn_small_number(text: str) -> int | None:
    """Parse 一 … 九十九 (enough for months, quarters and two-digit years)."""
    if not text:
        return None
    if "十" not in text:
        return _CN_DIGITS.get(text) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = _CN_DIGITS.get(tens, -1) if tens else 1
    low = _CN_DIGITS.get(ones, -1) if ones else 0
    if high < 0 or low < 0:
        return None
    return high * 10 + low


def _cn_digit_string(text: str) -> str:
    return "".join(str(_CN_DIGITS[ch]) for ch in text)


# --------------------------------------------------------------------------- tax_period

_YEAR_DIGITS_CN = re.compile(
    rf"(?<![{_CN_DIGIT_CHARS}])([{_CN_DIGIT_CHARS}]{{4}}|[{_CN_DIGIT_CHARS}]{{2}})(?=年)"
)
# Chinese month/quarter numerals, but not the 一 of 上一个月 / 这一季度.
_MONTH_CN = re.compile(r"(?<![上下这本前当每])(十[一二]|[一二三四五六七八九十])(?=\s*月)")
_QUARTER_CN = re.compile(r"(?<![上下这本前当每])([一二三四])(?=\s*季)")

_REL_YEARS = {
    "今年": 0,
    "本年": 0,
    "当年": 0,
    "去年": -1,
    "上年": -1,
    "上一年": -1,
    "前年": -2,
    "明年": 1,
}
_REL_YEAR_ALT = "|".join(sorted(_REL_YEARS, key=len, reverse=True))
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_YEAR = (
    rf"(?:{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})(?!\d)"
    rf"|{_NOT_ALNUM_BEFORE}(?P<y2>\d{{2}})(?=\s*年)"
    rf"|(?P<yrel>{_REL_YEAR_ALT}))"
)
_YEAR_SUFFIX = r"(?:\s*年度?|\s*年)?"
_MONTH = r"(?P<m>1[0-2]|0?[1-9])"

_YEAR_QUARTER = [
    re.compile(rf"{_YEAR}{_YEAR_SUFFIX}\s*(?:的\s*)?第?\s*(?P<q>[1-4])\s*季度?(?!\d)"),
    re.compile(rf"{_YEAR}{_YEAR_SUFFIX}\s*[-/.]?\s*Q(?P<q>[1-4])(?!\d)", re.IGNORECASE),
]
_YEAR_MONTH = [
    re.compile(rf"{_YEAR}{_YEAR_SUFFIX}\s*(?:的\s*)?{_MONTH}\s*月"),
    re.compile(rf"{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})\s*[-/.]\s*{_MONTH}(?!\d)"),
    re.compile(rf"{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})(?P<m>0[1-9]|1[0-2])(?![0-9A-Za-z])"),
]
_REL_MONTHS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"上上个?月"), -2),
    (re.compile(r"上一?个?月|前一个?月"), -1),
    (re.compile(r"本月|这一?个?月|当月"), 0),
]
_REL_QUARTERS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"上上个?季度?"), -2),
    (re.compile(r"上一?个?季度?"), -1),
    (re.compile(r"本季度?|这一?个?季度|当季度?"), 0),
]
_BARE_QUARTER = [
    re.compile(r"(?<!\d)第?\s*(?P<q>[1-4])\s*季度"),
    re.compile(r"第\s*(?P<q>[1-4])\s*季"),
    re.compile(rf"{_NOT_ALNUM_BEFORE}Q(?P<q>[1-4])(?![0-9A-Za-z])", re.IGNORECASE),
]
_BARE_MONTH = re.compile(rf"(?<![\d.]){_MONTH}\s*月")
# A year, but not one followed by a month number that failed the month patterns (2019年13月).
_YEAR_WITH_MARK = re.compile(
    rf"(?:(?:{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})|{_NOT_ALNUM_BEFORE}(?P<y2>\d{{2}}))\s*年"
    rf"|(?P<yrel>{_REL_YEAR_ALT}))(?!度?\s*\d+\s*月)"
)


def _prepare_period_text(text: str) -> str:
    text = to_simplified(text).replace("元月", "1月").replace("份", "")
    text = _YEAR_DIGITS_CN.sub(lambda m: _cn_digit_string(m.group(1)), text)
    text = _MONTH_CN.sub(lambda m: str(_cn_small_number(m.group(1))), text)
    return _QUARTER_CN.sub(lambda m: str(_cn_small_number(m.group(1))), text)


def _year_of(match: re.Match[str], today: datetime.date) -> int:
    groups = match.groupdict()
    if groups.get("y4"):
        return int(groups["y4"])
    if groups.get("y2"):
        year = 2000 + int(groups["y2"])
        return year if year <= today.year + 1 else year - 100
    return today.year + _REL_YEARS[groups["yrel"]]


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _month_form(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _quarter_form(year: int, quarter: int) -> str:
    return f"{year:04d}-Q{quarter}"


def normalize_tax_period(text: str, today: datetime.date) -> str | None:
    """Resolve a tax period expression to ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``.

    Accepts absolute forms (2019年12月, 2019-12, 2019/12, 2019.12, 201912, 19年12月,
    二〇一九年十二月, 2020年第一季度, 2020Q1, 2021年, 2021年度, 2021) and relative ones
    (上个月/上月, 本月/这个月, 上季度, 去年12月, 今年一季度, 去年, 今年, 前年), in either script.
    When ``text`` holds several expressions the most specific wins: year+quarter, then
    year+month, then relative month/quarter, then a bare quarter or month, then a year.

    A bare month or quarter (十二月, 12月, 一季度) means the most recent one that has begun:
    this year's if it is not later than ``today``'s month/quarter, otherwise last year's.
    Tax periods are filed and corrected after they end, so on 2026-11-27 "12月" is 2025-12.

    Returns ``None`` when nothing in ``text`` is a tax period.
    """
    prepared = _prepare_period_text(text)
    current_quarter = (today.month - 1) // 3 + 1

    for pattern in _YEAR_QUARTER:
        if match := pattern.search(prepared):
            return _quarter_form(_year_of(match, today), int(match.group("q")))
    for pattern in _YEAR_MONTH:
        if match := pattern.search(prepared):
            return _month_form(_year_of(match, today), int(match.group("m")))
    for pattern, delta in _REL_MONTHS:
        if pattern.search(prepared):
            return _month_form(*_shift_month(today.year, today.month, delta))
    for pattern, delta in _REL_QUARTERS:
        if pattern.search(prepared):
            index = today.year * 4 + (current_quarter - 1) + delta
            return _quarter_form(index // 4, index % 4 + 1)
    for pattern in _BARE_QUARTER:
        if match := pattern.search(prepared):
            quarter = int(match.group("q"))
            year = today.year if quarter <= current_quarter else today.year - 1
            return _quarter_form(year, quarter)
    if match := _BARE_MONTH.search(prepared):
        month = int(match.group("m"))
        year = today.year if month <= today.month else today.year - 1
        return _month_form(year, month)
    if match := _YEAR_WITH_MARK.search(prepared):
        return f"{_year_of(match, today):04d}"
    stripped = prepared.strip()
    if re.fullmatch(r"(?:19|20)\d{2}", stripped):
        return stripped
    return None


# --------------------------------------------------------------------------- taxpayer_id

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_SPACES = re.compile(r"[\s\-_]+")


@dataclass(frozen=True)
class TaxpayerIdCheck:
    """Result of :func:`check_taxpayer_id`.

    ``value`` is the cleaned code (upper-case, no spaces); ``reason`` is a user-facing
    explanation in Simplified Chinese when ``valid`` is false, else ``None``.
    """

    valid: bool
    value: str
    reason: str | None = None


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a code.

    Raises ``ValueError`` when ``first17`` is not 17 characters of the code's charset.
    """
    if len(first17) != 17 or any(ch not in _USCC_VALUES for ch in first17):
        raise ValueError("need 17 characters of 0-9 A-H J-N P-R T-U W-Y")
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def _org_code_check_char(first8: str) -> str | None:
    """GB 11714 organisation code check character, or None for illegal characters."""
    total = 0
    for ch, weight in zip(first8, _ORG_WEIGHTS, strict=True):
        if ch.isdigit():
            value = int(ch)
        elif "A" <= ch <= "Z":
            value = ord(ch) - ord("A") + 10
        else:
            return None
        total += value * weight
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _check_old_taxpayer_number(code: str) -> TaxpayerIdCheck:
    if not code[:6].isdigit():
        return TaxpayerIdCheck(False, code, "15位税号的前6位应为行政区划代码（数字），请核对")
    expected = _org_code_check_char(code[6:14])
    if expected is None or not (code[14].isdigit() or code[14] == "X"):
        return TaxpayerIdCheck(False, code, "15位税号中含有不合法的字符，请核对")
    if expected != code[14]:
        return TaxpayerIdCheck(
            False, code, "15位税号的校验位不对，请核对最后一位及其他字符后重新输入"
        )
    return TaxpayerIdCheck(True, code, None)


def check_taxpayer_id(code: str) -> TaxpayerIdCheck:
    """Check a taxpayer ID: an 18-character unified social credit code (GB 32100-2015).

    The code is upper-cased and stripped of spaces and dashes first (full-width characters
    are folded). Checks, in order: length, the charset (digits and upper-case letters without
    I, O, Z, S, V), positions 3–8 being the digits of a region code, and the check character
    (weights 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28; check = 31 − sum mod 31, 31 → 0).
    Old 15-character taxpayer numbers (region code + GB 11714 organisation code) are accepted
    when their organisation-code check character is right.
    """
    value = _SPACES.sub("", unicodedata.normalize("NFKC", code)).upper()
    if not value:
        return TaxpayerIdCheck(False, value, "请提供纳税人识别号（18位统一社会信用代码）")
    if len(value) == 15:
        return _check_old_taxpayer_number(value)
    if len(value) != 18:
        return TaxpayerIdCheck(
            False,
            value,
            f"纳税人识别号应为18位统一社会信用代码，您输入的是{len(value)}位，请核对",
        )
    for position, ch in enumerate(value, start=1):
        if ch not in _USCC_VALUES:
            return TaxpayerIdCheck(
                False,
                value,
                f"第{position}位“{ch}”不是合法字符（代码由数字和大写字母组成，"
                "不含 I、O、Z、S、V），请核对",
            )
    if not value[2:8].isdigit():
        return TaxpayerIdCheck(
            False, value, "第3–8位应为登记管理机关行政区划码（6位数字），请核对"
        )
    if uscc_check_char(value[:17]) != value[17]:
        return TaxpayerIdCheck(
            False,
            value,
            "这个代码的校验位不对（最后一位是由前17位算出的校验码），"
            "请核对最后一位及其他字符后重新输入",
        )
    return TaxpayerIdCheck(True, value, None)


def mask_taxpayer_id(code: str) -> str:
    """Mask a taxpayer ID for logs and replies: first 4 + ``****`` + last 3 (9131****12G).

    Codes shorter than 8 characters are masked entirely.
    """
    value = _SPACES.sub("", unicodedata.normalize("NFKC", code)).upper()
    if len(value) < 8:
        return "****"
    return f"{value[:4]}****{value[-3:]}"


# --------------------------------------------------------------------------- tax_type

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


def _tax_key(text: str) -> str:
    return re.sub(r"\s+", "", to_simplified(text)).lower()


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


# --------------------------------------------------------------------------- amount

_ARABIC = r"\d+(?:\.\d+)?"
_NUMBER_CHARS = rf"[\d.,{_CN_DIGIT_CHARS}十百千万亿点kKwW]"
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CURRENCY_PREFIX = r"(?:¥|\$|rmb|cny|人民币)"
_CURRENCY_SUFFIX = r"(?:元整|元|圆|块钱|块|rmb|cny)"
_MARKED_AMOUNT = re.compile(
    rf"{_CURRENCY_PREFIX}\s*(?P<a>{_NUMBER_CHARS}+)"
    rf"|(?P<b>{_NUMBER_CHARS}+)\s*{_CURRENCY_SUFFIX}"
    rf"|(?P<c>{_ARABIC}\s*[万亿])",
    re.IGNORECASE,
)
_TOKEN = re.compile(
    rf"{_ARABIC}|[{_CN_DIGIT_CHARS}]|[十百千万亿kKwW]|点\d+|点[{_CN_DIGIT_CHARS}]+"
)
_UNIT_VALUES = {**_CN_SMALL_UNITS, **_CN_BIG_UNITS, "k": 1000, "w": 10**4}


def _parse_number(text: str) -> Decimal | None:
    """Parse 12500, 1.25万, 一万二, 十二万五千, 1万2, 3k, 一点五万 … into a Decimal."""
    pos = 0
    tokens: list[str] = []
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            return None
        tokens.append(match.group(0))
        pos = match.end()
    if not tokens:
        return None

    above_yi = Decimal(0)
    above_wan = Decimal(0)
    current = Decimal(0)
    pending: Decimal | None = None
    pending_is_digit = False
    last_unit: int | None = None
    seen_number = False
    for token in tokens:
        lowered = token.lower()
        if token.startswith("点"):
            if pending is None:
                return None
            digits = token[1:]
            if not digits.isdigit():
                digits = _cn_digit_string(digits)
            pending += Decimal("0." + digits)
            pending_is_digit = False
        elif token[0].isdigit():
            if pending is not None:
                return None
            pending = Decimal(token)
            pending_is_digit = "." not in token and len(token) == 1
            seen_number = True
        elif token in _CN_DIGITS:
            digit = _CN_DIGITS[token]
            seen_number = True
            if digit == 0:
                last_unit = None  # 一万零二: the digit after 零 is a plain unit digit
                continue
            if pending is not None:
                if not pending_is_digit:
                    return None
                pending = pending * 10 + digit  # 一二五 written digit by digit
                pending_is_digit = False
            else:
                pending = Decimal(digit)
                pending_is_digit = True
        else:
            unit = _UNIT_VALUES[lowered]
            if unit >= 10**4:
                if pending is None and current == 0 and (unit == 10**4 or above_wan == 0):
                    return None
                section = current + (pending or 0)
                if unit == 10**8:
                    above_yi = (above_yi + above_wan + section) * unit
                    above_wan = Decimal(0)
                else:
                    above_wan = section * unit
                current = Decimal(0)
            else:
                if pending is None and current == 0 and unit != 10:
                    return None
                current += (pending if pending is not None else Decimal(1)) * unit
            pending = None
            pending_is_digit = False
            last_unit = unit
    if not seen_number and last_unit is None:
        return None
    tail = Decimal(0)
    if pending is not None:
        if pending_is_digit and last_unit is not None and last_unit >= 100:
            tail = pending * last_unit / 10  # colloquial 一万二 = 12000, 三千五 = 3500
        else:
            tail = pending
    return above_yi + above_wan + current + tail


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
        value = _parse_number(span)
    except InvalidOperation:
        return None
    return None if value is None else _clean_decimal(value)


_SMALL_DIGIT = rf"[0-9{_CN_DIGIT_CHARS}]"
_YUAN_JIAO_FEN = re.compile(
    rf"(?P<y>{_NUMBER_CHARS}+?)\s*(?:元|块|圆)\s*(?:(?P<j>{_SMALL_DIGIT})\s*(?:角|毛)?)?"
    rf"\s*(?:零?\s*(?P<f>{_SMALL_DIGIT})\s*分)?(?:钱)?"
)


def _small_digit(ch: str | None) -> int:
    if not ch:
        return 0
    return int(ch) if ch.isdigit() else _CN_DIGITS[ch]


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
    simplified = to_simplified(text).strip().lower()
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
