"""Handler phone numbers: one normal form, masked in output, bad ones refused with a reason."""

from __future__ import annotations

import pytest

from taxrules.phones import InvalidPhoneError, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "8613800138000",  # Telegram shares contacts without the +
        "0086 13800138000",
        "(+86)13800138000",
        "１３８００１３８０００",  # full width
    ],
)
def test_mainland_mobiles_are_one_number(raw: str) -> None:
    assert normalize_phone(raw) == "+8613800138000"


def test_other_international_numbers_keep_their_country_code() -> None:
    assert normalize_phone("+852 9123 4567") == "+85291234567"


@pytest.mark.parametrize("raw", ["", "12345", "23800138000", "abc", "+1", "138001380001"])
def test_not_phone_numbers_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidPhoneError) as err:
        normalize_phone(raw)
    assert "手机号" in err.value.user_message


def test_masked() -> None:
    assert mask_phone("+8613800138000") == "+86 138****8000"
    assert mask_phone("13800138000") == "138****8000"
    assert "9123" not in mask_phone("+85291234567")
