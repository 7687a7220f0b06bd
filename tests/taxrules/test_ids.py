"""Taxpayer identifiers: credit codes (GB 32100-2015), resident identity numbers
(GB 11643-1999) and the refusal of 15-character numbers, with reasons in both scripts."""

from __future__ import annotations

import datetime
import random

import opencc
import pytest

from taxrules.errors import InvalidTaxpayerIdError, UserFacingError
from taxrules.ids import (
    IdKind,
    TaxpayerId,
    find_taxpayer_id,
    identify_taxpayer_id,
    resident_id_check_char,
    uscc_check_char,
    validate_taxpayer_id,
)

TODAY = datetime.date(2026, 11, 27)


def refused(code: str, **kwargs: object) -> InvalidTaxpayerIdError:
    with pytest.raises(InvalidTaxpayerIdError) as exc:
        validate_taxpayer_id(code, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return exc.value


# --------------------------------------------------------------------------- credit codes


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("91650100MA78ABCD1A", "91650100MA78ABCD1A"),
        ("91310115MA1K3YJ12G", "91310115MA1K3YJ12G"),
        ("91330100799655058B", "91330100799655058B"),
        ("91310115ma1k3yj12g", "91310115MA1K3YJ12G"),
        (" 9131 0115 MA1K-3YJ1 2G ", "91310115MA1K3YJ12G"),
        ("９１６５０１００ＭＡ７８ＡＢＣＤ１Ａ", "91650100MA78ABCD1A"),
        # all digits and a province-like start, not a valid resident ID: a credit code
        ("121000004000006012", "121000004000006012"),
    ],
)
def test_valid_credit_codes(code: str, value: str) -> None:
    assert identify_taxpayer_id(code, today=TODAY) == TaxpayerId(value, IdKind.USCC)


@pytest.mark.parametrize(
    ("code", "reason", "fragment"),
    [
        ("91650100MA78ABCD1B", "check_digit", "校验位"),
        ("", "format", "请提供"),
        ("9165010", "format", "您输入的是7位"),
        ("91650100MA78ABCD1AA", "format", "19位"),
        ("91650100MA78ABCDIA", "format", "第17位“I”"),
        ("91650100MO78ABCD1A", "format", "第10位“O”"),
        ("9165010#MA78ABCD1A", "format", "第8位“#”"),
        ("91AB0100MA78ABCD1A", "format", "第3–8位"),
    ],
)
def test_invalid_credit_codes_say_why(code: str, reason: str, fragment: str) -> None:
    error = refused(code)
    assert error.reason == reason
    assert fragment in error.user_message
    assert isinstance(error, UserFacingError)
    assert error.code == "invalid_taxpayer_id"
    if len(code) >= 8:
        assert code not in str(error)  # logs never see the full ID


def test_check_char_matches_the_standard_on_random_codes() -> None:
    rng = random.Random(32100)
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    for _ in range(200):
        body = rng.choice("59Y") + rng.choice("123") + "".join(rng.choices("0123456789", k=6))
        body += "".join(rng.choices(charset, k=9))
        check = uscc_check_char(body)
        total = sum(charset.index(c) * w for c, w in zip(body, weights, strict=True))
        assert (total + charset.index(check)) % 31 == 0
        assert validate_taxpayer_id(body + check, today=TODAY) == body + check
        wrong = rng.choice([c for c in charset if c != check])
        with pytest.raises(InvalidTaxpayerIdError):
            validate_taxpayer_id(body + wrong, today=TODAY)


@pytest.mark.parametrize("bad", ["91310115MA1K3YJ1", "91310115MA1K3YJ1I"])
def test_uscc_check_char_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_char(bad)


# --------------------------------------------------------------------------- resident IDs


@pytest.mark.parametrize(
    "code",
    [
        "110101199003074514",
        "11010519491231002X",
        "11010519491231002x",
        "440304198506122313",
        "510107198002293019",  # 29 February of a leap year
        "500103200109150061",
        "810000197001010 01X",
    ],
)
def test_valid_resident_ids(code: str) -> None:
    value = code.replace(" ", "").upper()
    assert identify_taxpayer_id(code, today=TODAY) == TaxpayerId(value, IdKind.RESIDENT_ID)


def test_resident_check_digit_follows_gb_11643() -> None:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    rng = random.Random(11643)
    for _ in range(200):
        body = "".join(rng.choices("0123456789", k=17))
        check = resident_id_check_char(body)
        total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
        assert check == "10X98765432"[total % 11]
    with pytest.raises(ValueError):
        resident_id_check_char("1101011990030745")


@pytest.mark.parametrize(
    ("code", "reason", "hans", "hant"),
    [
        ("110101199003074513", "check_digit", "身份证号码的校验位不对", "身份證號碼的校驗位不對"),
        ("110101199002304516", "birth_date", "不是有效日期", "不是有效日期"),
        ("110101199013074511", "birth_date", "出生日期", "出生日期"),
        ("510107198102293010", "birth_date", "不是有效日期", "不是有效日期"),  # no 29 Feb
        ("110101189912310010", "birth_date", "不是有效日期", "不是有效日期"),  # before 1900
        ("110101203001014510", "future_birth_date", "晚于今天", "晚於今天"),
        ("110101202611280014", "future_birth_date", "晚于今天", "晚於今天"),  # tomorrow
    ],
)
def test_invalid_resident_ids_say_why(code: str, reason: str, hans: str, hant: str) -> None:
    error = refused(code)
    assert error.reason == reason
    assert error.kind == "resident_id"
    assert hans in error.user_message
    assert hant in refused(code, script="hant").user_message
    assert code not in str(error)


def test_birth_date_today_is_accepted() -> None:
    body = "11010120261127001"
    code = body + resident_id_check_char(body)
    assert validate_taxpayer_id(code, today=TODAY) == code


# --------------------------------------------------------------------------- 15 characters

LEGACY_HANS = "15位税务登记号已停用，请提供18位统一社会信用代码；个人请提供18位身份证号码"
LEGACY_HANT = "15位稅務登記號已停用，請提供18位統一社會信用代碼；個人請提供18位身份證號碼"


@pytest.mark.parametrize(
    "code",
    [
        "330100799655058",  # a tax registration number with a correct organisation code
        "330100799655059",
        "110101900307451",  # a first-generation identity card number
        "ab0100799655058",
    ],
)
def test_fifteen_character_numbers_are_recognised_and_refused(code: str) -> None:
    error = refused(code)
    assert error.reason == "legacy_15"
    assert error.user_message == LEGACY_HANS
    assert error.message_in("hant") == LEGACY_HANT
    assert refused(code, script="hant").user_message == LEGACY_HANT
    assert error.masked == code[:4].upper() + "****" + code[-3:].upper()


def test_traditional_messages_are_the_simplified_ones_converted() -> None:
    """The literals of both scripts say the same (OpenCC s2tw, as the replies use)."""
    s2tw = opencc.OpenCC("s2tw")
    for code in ["", "9165010", "91650100MA78ABCDIA", "91AB0100MA78ABCD1A", "91650100MA78ABCD1B"]:
        error = refused(code)
        assert s2tw.convert(error.message_in("hans")) == error.message_in("hant"), code
    for code in ["110101199003074513", "110101199002304516", "110101203001014510"]:
        error = refused(code)
        assert s2tw.convert(error.message_in("hans")) == error.message_in("hant"), code
    assert s2tw.convert(LEGACY_HANS) == LEGACY_HANT


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("91650100MA78ABCD1A", "91650100MA78ABCD1A"),
        ("9165 0100 MA78 ABCD 1A", "91650100MA78ABCD1A"),  # copied from a card in groups
        ("代码 9165-0100-MA78-ABCD-1A 谢谢", "91650100MA78ABCD1A"),
        ("110101 19900307 1233", "110101199003071233"),
        ("增值税 2025 10 91650100MA78ABCD1A", "91650100MA78ABCD1A"),  # the whole one wins
        ("2025 10 3", None),  # groups that are not 15 or 18 long are no ID
        ("电话 0991 1234567", None),
        ("没有代码", None),
    ],
)
def test_find_taxpayer_id_reads_ids_written_in_groups(text: str, found: str | None) -> None:
    assert find_taxpayer_id(text) == found
