"""One mask for every kind of taxpayer ID, and redaction of IDs inside free text."""

from __future__ import annotations

import pytest

from taxrules.masking import mask_taxpayer_id, redact_taxpayer_ids


@pytest.mark.parametrize(
    ("code", "masked"),
    [
        ("91310115MA1K3YJ12G", "9131****12G"),  # credit code
        ("91650100ma78abcd1a", "9165****D1A"),
        (" 9131 0115 MA1K 3YJ1 2G", "9131****12G"),
        ("110101199003074514", "1101****514"),  # resident identity number
        ("11010519491231002x", "1101****02X"),
        ("330100799655058", "3301****058"),  # 15-character number
        ("１１０１０１１９９００３０７４５１４", "1101****514"),
        ("1234567", "****"),
        ("", "****"),
    ],
)
def test_mask_taxpayer_id(code: str, masked: str) -> None:
    assert mask_taxpayer_id(code) == masked


@pytest.mark.parametrize("code", ["91310115MA1K3YJ12G", "110101199003074514"])
def test_mask_never_shows_the_middle(code: str) -> None:
    assert code[4:15] not in mask_taxpayer_id(code)
    assert "19900307" not in mask_taxpayer_id(code)


def test_a_log_line_with_two_ids() -> None:
    line = "taxpayer 7 sent 91310115MA1K3YJ12G, then id=110101199003074514 (case TX-2026-000123)"
    assert redact_taxpayer_ids(line) == (
        "taxpayer 7 sent 9131****12G, then id=1101****514 (case TX-2026-000123)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("代码91310115MA1K3YJ12G好", "代码9131****12G好"),
        ("身份证号110101199003074514", "身份证号1101****514"),
        ("身份證11010519491231002x。", "身份證1101****02X。"),
        ("旧税号330100799655058", "旧税号3301****058"),
        ("一代证110101900307451", "一代证1101****451"),
        ("错的91650100MA78ABCDIA也要遮", "错的9165****DIA也要遮"),  # invalid IDs too
        ("代码９１３１０１１５ＭＡ１Ｋ３ＹＪ１２Ｇ", "代码9131****12G"),
    ],
)
def test_redaction_masks_every_kind(text: str, expected: str) -> None:
    assert redact_taxpayer_ids(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 123456789012345678901",  # longer than any ID
        "手机 13800138000，chat 1234567890123",  # shorter
        "internationalism is fifteen",  # letters only
        "file AgACAgIAAxkBAAIBZ2VhY2U0MTIzNDU2Nzg5MA",  # Telegram file ids are longer
        "TX-2026-000123",
    ],
)
def test_redaction_leaves_other_text(text: str) -> None:
    assert redact_taxpayer_ids(text) == text


def test_the_sample_identifiers_are_valid_and_of_their_kind() -> None:
    from taxrules.ids import identify_taxpayer_id, validate_taxpayer_id
    from taxrules.masking import SAMPLE_CREDIT_CODE, SAMPLE_RESIDENT_ID

    assert validate_taxpayer_id(SAMPLE_CREDIT_CODE) == SAMPLE_CREDIT_CODE
    assert validate_taxpayer_id(SAMPLE_RESIDENT_ID) == SAMPLE_RESIDENT_ID
    assert (
        identify_taxpayer_id(SAMPLE_CREDIT_CODE).kind
        != identify_taxpayer_id(SAMPLE_RESIDENT_ID).kind
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("税号91310115MA1K3YJ12G 要更正", "税号91110108MA0000000A 要更正"),
        ("身份证11010519491231002X", "身份证110101199001010015"),
        ("老税号110105491231002", "老税号110101900101001"),
        ("我电话13912345678 社保断缴了", "我电话13800138000 社保断缴了"),
        ("打 +86 139 1234 5678 找我", "打 13800138000 找我"),
        ("座机021-65432100", "座机010-12345678"),
        ("[91310115MA1K3YJ12G](taxpayer_id)的发票", "[91110108MA0000000A](taxpayer_id)的发票"),
        ("订单123456 金额 12000 元", "订单123456 金额 12000 元"),  # not an ID, not a phone
    ],
)
def test_pseudonymise_keeps_the_shape_not_the_owner(text: str, expected: str) -> None:
    from taxrules.masking import pseudonymise

    assert pseudonymise(text) == expected


def test_mask_personal_numbers_masks_ids_and_phones_only() -> None:
    from taxrules.masking import mask_personal_numbers

    text = "我电话13912345678，税号91310115MA1K3YJ12G，订单123456"
    masked = mask_personal_numbers(text)
    assert "13912345678" not in masked and "91310115MA1K3YJ12G" not in masked
    assert "9131****12G" in masked and "订单123456" in masked
