"""Taxpayer identifiers: what a taxpayer may give as their 纳税人识别号, and how it is checked.

Three kinds of number are recognised:

* the 18-character **unified social credit code** (统一社会信用代码, GB 32100-2015) of
  companies, institutions and 个体工商户 that registered one: a registration-authority
  character, a category character, a 6-digit region code, the 9-character organisation code
  and a check character (weights 3^(i-1) mod 31, check = 31 − sum mod 31, 31 → 0), over the
  charset 0-9 A-H J-N P-R T-U W-Y (no I, O, Z, S, V);
* the 18-digit **resident identity number** (公民身份号码, GB 11643-1999), which individuals
  and 个体工商户 without a credit code use as their taxpayer number: a 6-digit region code
  (its first two digits a province-level code), the birth date YYYYMMDD (a real date, from
  1900, not after today), a 3-digit sequence and a check digit (ISO 7064 MOD 11-2, 10 → X);
* **15-character numbers**, recognised only to be refused.

Decision on 15-character numbers, the same everywhere (NLU, dialogue, desk, CLI): legacy
15-character tax registration numbers (region code + organisation code) were replaced by the
unified social credit code in 三证合一 (the grace period ended on 2017-12-31), and 15-digit
first-generation identity cards stopped being valid in 2013. So a 15-character number is
RECOGNISED — the person is told why it cannot be used — and REFUSED with the reason
`legacy_15` ("15位税务登记号已停用，请提供18位统一社会信用代码；个人请提供18位身份证号码").

An 18-character all-digit value (the last may be X) whose first two digits are a province
code is read as a resident identity number; if it is not a valid one but is a valid credit
code (a few credit codes are all digits), it is accepted as a credit code.

`validate_taxpayer_id` is the one check: it returns the normal form (upper case, without
spaces or dashes, full-width folded) or raises `InvalidTaxpayerIdError` with a machine
reason code and the user-facing reason in the person's script (both scripts are literals
here; the package uses no script converter).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from taxrules.errors import InvalidTaxpayerIdError, Script
from taxrules.masking import mask_taxpayer_id

__all__ = [
    "TAXPAYER_ID_RE",
    "USCC_CHARSET",
    "IdKind",
    "TaxpayerId",
    "clean_taxpayer_id",
    "find_taxpayer_id",
    "grouped_taxpayer_ids",
    "identify_taxpayer_id",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_taxpayer_id",
]


class IdKind(StrEnum):
    """What kind of number a taxpayer ID is."""

    USCC = "uscc"
    RESIDENT_ID = "resident_id"


@dataclass(frozen=True, slots=True)
class TaxpayerId:
    """A valid taxpayer ID in normal form, and its kind."""

    value: str
    kind: IdKind


USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = tuple(3**i % 31 for i in range(17))
_RESIDENT_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
_RESIDENT_CHECK = "10X98765432"
_RESIDENT_SHAPE = re.compile(r"\d{17}[\dX]")
PROVINCE_CODES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"}
    | {"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54"}
    | {"61", "62", "63", "64", "65", "71", "81", "82", "83"}
)
"""First two digits of the region code of a resident identity number (GB/T 2260 provinces;
71 Taiwan, 81 Hong Kong, 82 Macao, 83 residence permits of Taiwan residents)."""
_EARLIEST_BIRTH_YEAR = 1900
_SPACES = re.compile(r"[\s\-_]+")

TAXPAYER_ID_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?(?![0-9A-Za-z])")
"""A standalone run of 15 or 18 ASCII letters and digits: a candidate taxpayer ID in free text
(the answer to "请提供纳税人识别号"); `validate_taxpayer_id` judges it."""
_GROUPED_ID_RE = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Za-z]{2,8}(?:[ \-][0-9A-Za-z]{1,8}){1,8}(?![0-9A-Za-z])"
)


def find_taxpayer_id(text: str) -> str | None:
    """A candidate taxpayer ID in free text: a standalone run of 15 or 18 letters and digits,
    or one written in groups as people copy it from a card ("9165 0100 MA78 ABCD 1A",
    "110101-19900307-1233"), returned without the separators. `validate_taxpayer_id` judges
    it."""
    match = TAXPAYER_ID_RE.search(text)
    if match:
        return match.group(0)
    for start, end in grouped_taxpayer_ids(text):
        return clean_taxpayer_id(text[start:end])
    return None


def grouped_taxpayer_ids(text: str) -> list[tuple[int, int]]:
    """The spans of IDs written in groups in `text` (letters and digits in runs split by
    single spaces or dashes, 15 or 18 of them in all): no extractor should read a period or
    an amount inside one."""
    spans = []
    for grouped in _GROUPED_ID_RE.finditer(text):
        if len(clean_taxpayer_id(grouped.group(0))) in (15, 18):
            spans.append(grouped.span())
    return spans


_Messages = dict[Script, str]

_EMPTY: _Messages = {
    "hans": "请提供纳税人识别号（18位统一社会信用代码；个人或个体工商户请提供18位身份证号码）",
    "hant": "請提供納稅人識別號（18位統一社會信用代碼；個人或個體工商戶請提供18位身份證號碼）",
}
_LEGACY_15: _Messages = {
    "hans": "15位税务登记号已停用，请提供18位统一社会信用代码；个人请提供18位身份证号码",
    "hant": "15位稅務登記號已停用，請提供18位統一社會信用代碼；個人請提供18位身份證號碼",
}
_USCC_CHECK: _Messages = {
    "hans": "这个代码的校验位不对（最后一位是由前17位算出的校验码），"
    "请核对最后一位及其他字符后重新输入",
    "hant": "這個代碼的校驗位不對（最後一位是由前17位算出的校驗碼），"
    "請核對最後一位及其他字符後重新輸入",
}
_USCC_REGION: _Messages = {
    "hans": "第3–8位应为登记管理机关行政区划码（6位数字），请核对",
    "hant": "第3–8位應為登記管理機關行政區劃碼（6位數字），請核對",
}
_BIRTH_DATE: _Messages = {
    "hans": "身份证号码中的出生日期（第7–14位）不是有效日期，请核对后重新输入",
    "hant": "身份證號碼中的出生日期（第7–14位）不是有效日期，請核對後重新輸入",
}
_FUTURE_BIRTH_DATE: _Messages = {
    "hans": "身份证号码中的出生日期（第7–14位）晚于今天，请核对后重新输入",
    "hant": "身份證號碼中的出生日期（第7–14位）晚於今天，請核對後重新輸入",
}
_RESIDENT_CHECK_MSG: _Messages = {
    "hans": "身份证号码的校验位不对（最后一位是由前17位算出的校验码，为数字或X），"
    "请核对后重新输入",
    "hant": "身份證號碼的校驗位不對（最後一位是由前17位算出的校驗碼，為數字或X），"
    "請核對後重新輸入",
}


def _length_messages(length: int) -> _Messages:
    return {
        "hans": "纳税人识别号应为18位统一社会信用代码（个人或个体工商户为18位身份证号码），"
        f"您输入的是{length}位，请核对",
        "hant": "納稅人識別號應為18位統一社會信用代碼（個人或個體工商戶為18位身份證號碼），"
        f"您輸入的是{length}位，請核對",
    }


def _charset_messages(position: int, ch: str) -> _Messages:
    return {
        "hans": f"第{position}位“{ch}”不是合法字符（代码由数字和大写字母组成，"
        "不含 I、O、Z、S、V），请核对",
        "hant": f"第{position}位“{ch}”不是合法字符（代碼由數字和大寫字母組成，"
        "不含 I、O、Z、S、V），請核對",
    }


def clean_taxpayer_id(code: str) -> str:
    """Full-width folded (NFKC), upper-cased, without spaces, dashes or underscores."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", code)).upper()


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code.

    Raises `ValueError` when `first17` is not 17 characters of the code's charset.
    """
    if len(first17) != 17 or any(ch not in _USCC_VALUES for ch in first17):
        raise ValueError("need 17 characters of 0-9 A-H J-N P-R T-U W-Y")
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def resident_id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) for the first 17 digits of an ID number.

    Raises `ValueError` when `first17` is not 17 digits.
    """
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise ValueError("need 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK[total % 11]


def _birth_date(value: str) -> datetime.date | None:
    try:
        born = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    return born if born.year >= _EARLIEST_BIRTH_YEAR else None


def _resident_id_problem(value: str, today: datetime.date) -> tuple[str, _Messages] | None:
    born = _birth_date(value)
    if born is None:
        return "birth_date", _BIRTH_DATE
    if born > today:
        return "future_birth_date", _FUTURE_BIRTH_DATE
    if resident_id_check_char(value[:17]) != value[17]:
        return "check_digit", _RESIDENT_CHECK_MSG
    return None


def _uscc_problem(value: str) -> tuple[str, _Messages] | None:
    for position, ch in enumerate(value, start=1):
        if ch not in _USCC_VALUES:
            return "format", _charset_messages(position, ch)
    if not value[2:8].isdigit():
        return "format", _USCC_REGION
    if uscc_check_char(value[:17]) != value[17]:
        return "check_digit", _USCC_CHECK
    return None


def identify_taxpayer_id(
    code: str, *, today: datetime.date | None = None, script: Script = "hans"
) -> TaxpayerId:
    """Check `code` and return it in normal form with its kind.

    Raises `InvalidTaxpayerIdError` (reason `format`, `check_digit`, `legacy_15`,
    `birth_date` or `future_birth_date`, message in `script`) when it is not a usable
    taxpayer ID. `today` (default: the local date) bounds a resident's birth date.
    """
    value = clean_taxpayer_id(code)

    def refuse(
        reason: str, messages: _Messages, kind: str | None = None
    ) -> InvalidTaxpayerIdError:
        return InvalidTaxpayerIdError(reason, mask_taxpayer_id(value), messages, script, kind)

    if not value:
        raise refuse("format", _EMPTY)
    if len(value) == 15:
        raise refuse("legacy_15", _LEGACY_15, "legacy_15")
    if len(value) != 18:
        raise refuse("format", _length_messages(len(value)))
    if _RESIDENT_SHAPE.fullmatch(value) and value[:2] in PROVINCE_CODES:
        problem = _resident_id_problem(value, today or datetime.date.today())
        if problem is None:
            return TaxpayerId(value, IdKind.RESIDENT_ID)
        if _uscc_problem(value) is None:
            return TaxpayerId(value, IdKind.USCC)
        raise refuse(*problem, IdKind.RESIDENT_ID)
    problem = _uscc_problem(value)
    if problem is not None:
        raise refuse(*problem, IdKind.USCC)
    return TaxpayerId(value, IdKind.USCC)


def validate_taxpayer_id(
    code: str, *, today: datetime.date | None = None, script: Script = "hans"
) -> str:
    """The normal form of a valid taxpayer ID (credit code or resident identity number).

    Raises `InvalidTaxpayerIdError` with a machine `reason` and the user-facing reason in
    `script`; see `identify_taxpayer_id`.
    """
    return identify_taxpayer_id(code, today=today, script=script).value
