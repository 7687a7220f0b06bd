"""The case form's shape: slots are data, each slot is one `extract_<slot>`/`validate_<slot>`
pair found by name, and every intent → action pair comes from `data/rules.yml`."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from actions.channel import InboundMessage, Reply
from actions.dispatcher import CollectingDispatcher
from actions.domain import CaseType, Domain, DomainError, Rule, Title
from actions.engine import DialogueEngine
from actions.policy import Policy
from actions.stores import InMemoryTrackerStore
from actions.tracker import Tracker
from actions.validation import CaseFormValidation
from testing.dialogue import FakeGateway, FakeInterpreter, FakeNormalizers, parse

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 27)
GOOD_ID = "91650100MA78ABCD1A"
PLATE_RE = re.compile(r"[\u4e00-\u9fff][A-Za-z][A-Za-z0-9]{5}")


class VehicleTaxValidation(CaseFormValidation):
    """The case form's validation plus one slot, `plate_number`: all the code a new slot
    needs."""

    async def extract_plate_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        match = PLATE_RE.search(str(tracker.latest_message.get("text") or ""))
        return {"plate_number": match.group(0)} if match else {}

    async def validate_plate_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        plate = str(value.get("value") if isinstance(value, dict) else value).upper()
        if "I" in plate[1:] or "O" in plate[1:]:
            dispatcher.utter_message(text="车牌号不使用字母 I 和 O，请核对后重新输入。")
            return {"plate_number": None}
        return {"plate_number": plate}


def vehicle_tax_domain() -> Domain:
    """The real domain plus a test-only case type asking for a new slot (data only)."""
    domain = Domain.load(ROOT / "data")
    vehicle = CaseType(
        key="vehicle_tax_refund",
        title=Title("车船税退税", "車船稅退稅"),
        intent="request_vehicle_tax_refund",
        slots=("plate_number", "taxpayer_id"),  # the line of data
        documents=(),
        sla_working_days=3,
    )
    labels = {kind: dict(values) for kind, values in domain.labels.items()}
    labels["slot"]["plate_number"] = "车牌"
    labels["slot_long"]["plate_number"] = "车牌号"
    responses = {
        **domain.responses,
        "utter_ask_plate_number": [{"text": "请问车牌号是多少？（例如：沪A12345）"}],
    }
    return dataclasses.replace(
        domain,
        case_types={**domain.case_types, vehicle.key: vehicle},
        labels=labels,
        responses=responses,
    )


NLU = {
    "我要办车船税退税": parse("request_vehicle_tax_refund"),
    "车牌沪B54321": parse("provide_info", plate_number="沪b54321"),
}


def make_engine(domain: Domain, **kw: Any) -> tuple[DialogueEngine, FakeGateway]:
    gateway = FakeGateway(lambda: TODAY)
    engine = DialogueEngine(
        FakeInterpreter(NLU),
        gateway,
        InMemoryTrackerStore(),
        domain,
        today=lambda: TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(7),
        **kw,
    )
    return engine, gateway


async def say(engine: DialogueEngine, text: str) -> str:
    replies: list[Reply] = await engine.handle(InboundMessage("telegram", "1", "u1", text=text))
    return "\n".join(r.text for r in replies)


async def test_a_new_slot_is_one_pair_of_methods_and_a_line_of_data() -> None:
    engine, gateway = make_engine(vehicle_tax_domain(), form_validation=VehicleTaxValidation)
    text = await say(engine, "我要办车船税退税")
    assert "车船税退税" in text and "车牌号是多少" in text
    text = await say(engine, "沪a1234o")  # extracted from the text, refused with the reason
    assert "不使用字母 I 和 O" in text
    tracker = await engine.tracker("telegram", "1")
    assert tracker is not None and tracker.requested_slot == "plate_number"
    assert "plate_number" not in tracker.slots
    text = await say(engine, "沪a12345")
    assert "纳税人识别号" in text
    text = await say(engine, GOOD_ID)  # the other slot keeps its own pair
    assert "车牌 沪A12345" in text and "9165****D1A" in text and "确认提交" in text
    text = await say(engine, "/submit_case")
    assert "TX-2026-" in text
    (case,) = gateway.cases.values()
    assert case.case_type == "vehicle_tax_refund"
    assert case.slots == {"plate_number": "沪A12345", "taxpayer_id": GOOD_ID}


async def test_the_new_slot_is_taken_from_an_entity_and_with_another_case_type() -> None:
    """An entity named like the slot is a candidate without code; values given before a
    case type is chosen are kept for any form slot, the new one included."""
    engine, _ = make_engine(vehicle_tax_domain(), form_validation=VehicleTaxValidation)
    replies = await engine.handle(InboundMessage("telegram", "1", "u1", text="车牌沪B54321"))
    assert "业务" in replies[-1].text
    assert "车船税退税" in [b.title for row in replies[-1].buttons for b in row]
    tracker = await engine.tracker("telegram", "1")
    assert tracker is not None and tracker.get_slot("plate_number") == "沪B54321"
    text = await say(engine, '/choose_case_type{"case_type":"vehicle_tax_refund"}')
    assert "车牌 沪B54321" in text and "纳税人识别号" in text


def test_a_slot_without_its_pair_is_refused_at_start() -> None:
    with pytest.raises(DomainError) as err:
        make_engine(vehicle_tax_domain())  # the default validation knows no plate_number
    message = str(err.value)
    assert "vehicle_tax_refund" in message
    assert "extract_plate_number" in message and "validate_plate_number" in message


def test_the_real_case_types_ask_only_for_slots_with_a_pair() -> None:
    domain = Domain.load(ROOT / "data")
    validation = CaseFormValidation(make_engine(domain)[0].ctx)
    assert validation.missing_methods(domain.form_slots) == []
    assert set(domain.form_slots) == {s for ct in domain.case_types.values() for s in ct.slots}


# ----------------------------------------------------------------------------- rules


def tracker_for(intent: str, **fields: Any) -> Tracker:
    tracker = Tracker(conversation_key="telegram:1", **fields)
    tracker.latest_message = parse(intent)
    return tracker


def test_the_policy_follows_rules_yml_and_nothing_else() -> None:
    domain = Domain.load(ROOT / "data")
    assert domain.rules
    assert all(domain.case_type_for_intent(r.intent) is None for r in domain.rules)
    policy = Policy(domain)
    for rule in domain.rules:
        assert policy.decide(tracker_for(rule.intent)).action == rule.action, rule.name
    # Every action renamed in the data: every decision follows.
    renamed = [dataclasses.replace(r, action=f"renamed_{r.action}") for r in domain.rules]
    policy = Policy(dataclasses.replace(domain, rules=renamed))
    for rule in renamed:
        assert policy.decide(tracker_for(rule.intent)).action == rule.action, rule.name


def test_rule_metadata_decides_priority() -> None:
    domain = Domain.load(ROOT / "data")
    policy = Policy(domain)
    in_form = {"active_form": "return_correction", "pending_case": "TX-2026-000001"}
    assert policy.decide(tracker_for("cancel_request", **in_form)).action == "action_cancel"
    assert policy.decide(tracker_for("greet", active_form="invoice")).then == "case_form_reprompt"
    assert policy.decide(tracker_for("affirm", active_form="invoice")).action == "case_form"
    assert policy.decide(tracker_for("greet", pending_case="TX-1")).action == "action_answer_case"
    status = policy.decide(tracker_for("check_status", pending_case="TX-1"))
    assert status.action == "action_check_status"
    # The same intents without their metadata: plain rules, below the form and the question.
    plain = [Rule(r.name, r.intent, r.action) for r in domain.rules]
    policy = Policy(dataclasses.replace(domain, rules=plain))
    assert policy.decide(tracker_for("cancel_request", **in_form)).action == "action_answer_case"
    assert policy.decide(tracker_for("greet", active_form="invoice")).action == "case_form"
    status = policy.decide(tracker_for("check_status", pending_case="TX-1"))
    assert status.action == "action_answer_case"


def test_an_intent_in_two_rules_is_refused(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text((ROOT / "data" / "domain.yml").read_text("utf-8"))
    (tmp_path / "case_types.yml").write_text((ROOT / "data" / "case_types.yml").read_text("utf-8"))
    rules = (ROOT / "data" / "rules.yml").read_text("utf-8")
    rules += "  - rule: cancel again\n    steps: [{intent: cancel_request}, {action: utter_ok}]\n"
    (tmp_path / "rules.yml").write_text(rules, "utf-8")
    with pytest.raises(DomainError, match="cancel_request"):
        Domain.load(tmp_path)
