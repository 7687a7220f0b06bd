"""The conversation regression set (issue 9, "Measured"): its shape, the runner's checks, and
the floor that keeps `make test` from accepting a drop in the share of conversations passing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.conversations import (
    DATA_DIR,
    FLOOR_FILE,
    Conversation,
    KeywordInterpreter,
    load_conversations,
    read_floor,
    replay,
)
from testing.dialogue import FakeInterpreter, parse

GOOD_ID = "91650100MA78ABCD1A"


def test_the_set_is_big_and_well_formed() -> None:
    conversations = load_conversations()
    assert len(conversations) >= 200
    assert all(len(c.steps) >= 1 for c in conversations)
    multi_turn = [c for c in conversations if sum("expect" in s for s in c.steps) >= 2]
    assert len(multi_turn) >= 80
    categories = {c.category for c in conversations}
    assert {"periods", "ids", "impersonation", "files", "faq", "midform", "two_requests"} <= (
        categories
    )
    assert all(s.get("expect") for c in conversations for s in c.steps if "user" in s)


def test_a_malformed_step_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "conversations:\n  - name: x\n    steps:\n"
        "      - user: hi\n        expect: {intnet: greet}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="unknown expectations"):
        load_conversations([bad])


async def test_replay_reports_kinds_slots_and_the_first_mismatch() -> None:
    """Scripted NLU over the real engine and desk: one conversation passes, one fails at its
    second step and is reported with what was expected and what came back."""
    interpreter = FakeInterpreter(
        {
            "我要开完税证明": parse("request_tax_certificate"),
            "2025年": parse("provide_info", tax_period="2025"),
            GOOD_ID: parse("provide_info", taxpayer_id=GOOD_ID),
        }
    )
    good = Conversation(
        "good",
        "a",
        [
            {"user": "我要开完税证明", "expect": {"replies": ["utter_ask_tax_period"]}},
            {"user": "2025年", "expect": {"slots": {"tax_period": "2025"}}},
            {"user": GOOD_ID, "expect": {"not_says": [GOOD_ID]}},
            {"press": "/submit_case", "expect": {"submitted": "tax_certificate", "form": None}},
            {"staff": "complete", "text": "已开具。"},
            {"user": "/status", "expect": {"says": ["{case}", "已开具"]}},  # and recent results
        ],
    )
    bad = Conversation(
        "bad",
        "b",
        [
            {"user": "我要开完税证明", "expect": {"form": "tax_certificate"}},
            {"user": "你好", "expect": {"intent": "greet"}},
            {"user": "2025年", "expect": {"slots": {"tax_period": "2025"}}},
        ],
    )
    report = await replay([good, bad], interpreter)
    assert [r.passed for r in report.results] == [True, False]
    assert report.conversation_pass_rate == 0.5
    assert report.turns == 8 and report.turn_pass_rate == pytest.approx(7 / 8, abs=1e-4)
    assert report.by_category() == {"a": (1, 1), "b": (0, 1)}
    failure = report.results[1].first_failure
    assert failure is not None and failure.index == 2
    assert failure.mismatch == "intent greet (NLU said nlu_fallback)"
    assert failure.kinds == ["utter_form_not_understood", "utter_ask_tax_period"]
    (block,) = report.failures()
    assert "b/bad" in block and "step 2: 你好" in block


async def test_the_keyword_baseline_reads_intents_only() -> None:
    kw = KeywordInterpreter()
    assert (await kw.aparse("我要开完税证明"))["intent"]["name"] == "request_tax_certificate"
    assert (await kw.aparse("算了，不办了"))["intent"]["name"] == "cancel_request"
    assert (await kw.aparse("2025年"))["intent"]["name"] == "provide_info"
    parsed = await kw.aparse("那个啥")
    assert parsed["intent"] == {"name": "nlu_fallback", "confidence": 0.0}
    assert parsed["entities"] == []


def test_the_floor_only_records_a_rate() -> None:
    floor = json.loads(FLOOR_FILE.read_text(encoding="utf-8"))
    assert 0 < floor["conversation_pass_rate"] <= 1
    assert read_floor() == floor["conversation_pass_rate"]
    assert FLOOR_FILE.parent == DATA_DIR


async def test_the_share_passing_does_not_drop_below_the_floor(interpreter: Any) -> None:
    """Replays the whole set with the session's trained model. The floor in
    bench/conversations/floor.json may only rise (see bench/conversations/README.md)."""
    report = await replay(load_conversations(), interpreter)
    floor = read_floor()
    summary = "\n".join(report.failures())
    assert report.conversation_pass_rate >= floor, (
        f"{report.conversation_pass_rate:.4f} of the conversations pass, below the floor "
        f"{floor:.4f}; failing:\n{summary}"
    )
