"""Case types from data, the state machine table, taxpayer IDs: pure unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from desk.case_types import load_case_types, parse_case_types
from desk.errors import CaseTypesError, IllegalTransition, InvalidTaxpayerId, UnknownCaseType
from desk.states import CLOSED_STATUSES, TRANSITIONS, CaseStatus, check
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import validate_taxpayer_id

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_case_types_load() -> None:
    cat = load_case_types(ROOT / "data" / "case_types.yml")
    rc = cat.get("return_correction")
    assert rc.intent == "request_correction" and rc.sla_working_days == 1
    assert [d.key for d in rc.required_documents] == ["commitment_letter"]
    assert cat.by_intent("request_refund").key == "refund"  # type: ignore[union-attr]
    assert len(cat) == 5
    with pytest.raises(UnknownCaseType):
        cat.get("visa")


def _raw() -> dict:
    return yaml.safe_load((ROOT / "data" / "case_types.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda r: r["case_types"]["invoice"].update(sla_working_days=0),
            "case_types.invoice.sla_working_days",
        ),
        (
            lambda r: r["case_types"]["invoice"]["title"].pop("zh_hant"),
            "case_types.invoice.title.zh_hant",
        ),
        (
            lambda r: r["case_types"]["refund"].update(intent="request_invoice"),
            "case_types.refund.intent",
        ),
        (
            lambda r: r["case_types"]["invoice"]["documents"][0].update(accept=["exe"]),
            "case_types.invoice.documents[0].accept",
        ),
        (
            lambda r: r["case_types"]["invoice"]["documents"][0].update(required="yes"),
            "case_types.invoice.documents[0].required",
        ),
        (lambda r: r["case_types"]["invoice"].update(colour="red"), "case_types.invoice.colour"),
        (lambda r: r.update(version=2), "version"),
        (
            lambda r: r["case_types"]["invoice"].update(slots=["taxpayer_id", "taxpayer_id"]),
            "case_types.invoice.slots",
        ),
    ],
)
def test_validation_names_file_and_field(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    raw = _raw()
    mutate(raw)
    with pytest.raises(CaseTypesError) as exc:
        parse_case_types(raw, "data/case_types.yml")
    assert exc.value.field == field
    assert "data/case_types.yml" in exc.value.user_message and field in str(exc.value)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "ct.yml"
    bad.write_text("case_types: [\n", encoding="utf-8")
    with pytest.raises(CaseTypesError) as exc:
        load_case_types(bad)
    assert str(bad) in str(exc.value)


def test_state_machine_table() -> None:
    S = CaseStatus
    assert check("submit", S.COLLECTING) == S.QUEUED
    assert check("claim", S.QUEUED) == S.IN_PROGRESS
    assert check("ask", S.IN_PROGRESS) == S.WAITING_TAXPAYER
    assert check("answer", S.WAITING_TAXPAYER) == S.IN_PROGRESS
    assert check("complete", S.IN_PROGRESS) == S.DONE
    assert check("assign", S.IN_PROGRESS) == S.IN_PROGRESS
    assert check("reopen", S.DONE) == S.QUEUED
    for closed in CLOSED_STATUSES:
        for action in ("claim", "complete", "reject", "cancel", "submit", "ask"):
            with pytest.raises(IllegalTransition):
                check(action, closed, "TX-2026-000001")
    with pytest.raises(IllegalTransition) as exc:
        check("complete", S.CANCELLED, "TX-2026-000009")
    assert exc.value.user_message == "案件 TX-2026-000009 当前状态为「已取消」，不能办结。"
    # every target is a real status
    for _sources, target in TRANSITIONS.values():
        assert target is None or target in set(CaseStatus)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91650100MA78ABCD1B", "check_digit"),
        ("9165010", "format"),
        ("91650100MA78ABCDIA", "format"),
        ("110101199003074513", "check_digit"),
        ("330100799655058", "legacy_15"),
    ],
)
def test_desk_error_carries_the_rules_refusal(code: str, reason: str) -> None:
    with pytest.raises(InvalidTaxpayerIdError) as refused:
        validate_taxpayer_id(code)
    error = InvalidTaxpayerId(refused.value)
    assert error.code == "invalid_taxpayer_id"
    assert error.reason == reason
    assert error.user_message == refused.value.user_message
    assert code not in str(error)
