"""The trained NLU (data/ and config.yml, the session model) finds taxpayer IDs of every kind
and marks the ones the rules of `taxrules.ids` refuse, with the reason."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TODAY = date(2026, 11, 27)


def _ids(interpreter: Any, text: str) -> list[dict[str, Any]]:
    result = interpreter.parse(text, TODAY)
    return [e for e in result["entities"] if e["entity"] == "taxpayer_id"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我是个体户，身份证号110101199003074514", "110101199003074514"),
        ("我是個體戶，身份證號碼11010519491231002x", "11010519491231002X"),
        ("440304198506122313", "440304198506122313"),
        ("更正个税申报 身份证号 310115199201011237", "310115199201011237"),
        ("统一社会信用代码91310115MA1K3YJ12G", "91310115MA1K3YJ12G"),
    ],
)
def test_valid_ids_are_recognised(interpreter: Any, text: str, value: str) -> None:
    (entity,) = _ids(interpreter, text)
    assert entity["value"] == value
    assert "invalid" not in entity


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("身份证号110101199003074513", "校验位"),  # wrong check digit
        ("身份證號碼110101199002304516", "出生日期"),  # 30 February
        ("我是个体户 身份证110101203001014510", "晚于今天"),  # born in 2030
        ("旧税号330100799655058", "15位税务登记号已停用"),
    ],
)
def test_refused_ids_are_marked_with_the_reason(interpreter: Any, text: str, reason: str) -> None:
    (entity,) = _ids(interpreter, text)
    assert entity["invalid"] is True
    assert reason in entity["reason"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # typed in the shell: it fell to provide_info before the requests with IDs were taught
        ("我是個體戶，要開完稅證明，身分證110101199003074514", "request_tax_certificate"),
        ("我是个体户，要开完税证明，身份证110101199003074514", "request_tax_certificate"),
    ],
)
def test_a_request_with_a_resident_id_keeps_its_intent(
    interpreter: Any, text: str, intent: str
) -> None:
    result = interpreter.parse(text, TODAY)
    assert result["intent"]["name"] == intent
    (entity,) = _ids(interpreter, text)
    assert entity["value"] == "110101199003074514" and "invalid" not in entity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1101 0119 9003 0712 33", "110101199003071233"),  # the CRF read "900" and "3" in it
        ("增值税 2025年3月 9165 0100 MA78 ABCD 1A", "91650100MA78ABCD1A"),
    ],
)
def test_an_id_written_in_groups_is_one_entity_and_nothing_else_is_read_in_it(
    interpreter: Any, text: str, value: str
) -> None:
    entities = interpreter.parse(text, TODAY)["entities"]
    (entity,) = [e for e in entities if e["entity"] == "taxpayer_id"]
    assert entity["value"] == value and "invalid" not in entity
    inside = [
        e
        for e in entities
        if e is not entity and e["start"] < entity["end"] and entity["start"] < e["end"]
    ]
    assert inside == []
