"""Periods where the data is: case types say which periods they take (`periods:` in
case_types.yml, checked by the loader) and the desk stores only canonical periods of those
kinds, whoever writes them (the dialogue, staff at the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from desk.case_types import PeriodRule, load_case_types, parse_case_types
from desk.errors import CaseTypesError, InvalidPeriod
from desk.services import Desk

ROOT = Path(__file__).resolve().parents[2]
TAX_ID = "91310115MA1K3YJ12G"


def _shipped() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "data" / "case_types.yml").read_text())
    return raw


def test_shipped_period_rules() -> None:
    cat = load_case_types(ROOT / "data" / "case_types.yml")
    correction = cat.get("return_correction").periods
    assert correction == PeriodRule(kinds=("month", "quarter", "year"), ranges=False)
    certificate = cat.get("tax_certificate").periods
    assert certificate.ranges and "half" in certificate.kinds
    assert certificate.running and not correction.running  # 今年的完税证明; a return: ended
    assert cat.get("invoice").periods == PeriodRule()  # no period asked: the default


@pytest.mark.parametrize(
    ("periods", "field"),
    [
        ({"kinds": ["week"]}, "periods.kinds"),
        ({"kinds": []}, "periods.kinds"),
        ({"ranges": "yes"}, "periods.ranges"),
        ({"running": "yes"}, "periods.running"),
        ({"kinds": ["month"], "span": 3}, "periods.span"),
        (["month"], "periods"),
    ],
)
def test_bad_period_rules_are_refused_naming_the_field(periods: Any, field: str) -> None:
    raw = _shipped()
    raw["case_types"]["refund"]["periods"] = periods
    with pytest.raises(CaseTypesError) as exc:
        parse_case_types(raw, "case_types.yml")
    assert f"case_types.refund.{field}" in str(exc.value)


async def _open(desk: Desk, case_type: str, period: str) -> str:
    conv = await desk.ensure_conversation("telegram", "1001", "1001", display_name="张会计")
    case = await desk.open_case(
        case_type,
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": period, "taxpayer_id": TAX_ID},
    )
    return str(case.slots["tax_period"])


@pytest.mark.parametrize(
    ("case_type", "written", "stored"),
    [
        ("return_correction", "2025-Q3", "2025-Q3"),
        ("return_correction", "2025年第三季度", "2025-Q3"),
        ("return_correction", "25年3季度", "2025-Q3"),
        ("return_correction", "12月", "2025-12"),  # the clock says 2026-11-27
        ("tax_certificate", "2023年到2025年", "2023..2025"),
        ("tax_certificate", "2023..2025", "2023..2025"),
        ("tax_certificate", "2025年上半年", "2025-H1"),
    ],
)
async def test_stored_periods_are_canonical(
    desk: Desk, case_type: str, written: str, stored: str
) -> None:
    assert await _open(desk, case_type, written) == stored


@pytest.mark.parametrize(
    ("case_type", "written", "reason"),
    [
        ("return_correction", "2025年13月", "月份应在1到12之间"),
        ("return_correction", "2023..2025", "一次只能办理一个所属期"),
        ("return_correction", "2025-H1", "按月、按季或按年"),
        ("refund", "近三年", "一次只能办理一个所属期"),
        ("tax_certificate", "不知道", "无法识别"),
    ],
)
async def test_periods_the_case_type_does_not_take_are_refused(
    desk: Desk, case_type: str, written: str, reason: str
) -> None:
    with pytest.raises(InvalidPeriod) as exc:
        await _open(desk, case_type, written)
    assert reason in exc.value.user_message


async def test_the_tax_type_decides_the_kind_of_period(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "1001", "1001", display_name="张会计")
    slots = {"tax_type": "vat", "tax_period": "2025", "taxpayer_id": TAX_ID}
    with pytest.raises(InvalidPeriod) as exc:
        await desk.open_case("return_correction", taxpayer_id=conv.taxpayer_id, slots=slots)
    assert "增值税按月或按季申报" in exc.value.user_message
    slots["tax_type"] = "cit"
    case = await desk.open_case("return_correction", taxpayer_id=conv.taxpayer_id, slots=slots)
    assert case.slots["tax_period"] == "2025"
