"""Confidence reflects novelty: trained on the real data/ and config.yml, the held-out texts of
tests/fixtures/nlu_ood.yml (never trained on) must split the way the product needs.

Out-of-domain text (gibberish, emoji, weather, stocks, ...) must end as `nlu_fallback` (the
rephrase prompt of DIALOGUES.md §8) or `out_of_scope`; fresh in-domain paraphrases must keep
their intent without falling back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlu.evaluation import evaluate
from nlu.pipeline import Pipeline
from nlu.training_data import TrainingData, load_training_data

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = Path(__file__).resolve().parents[1] / "fixtures" / "nlu_ood.yml"
FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def project_pipeline(interpreter: Any) -> Pipeline:
    """The pipeline of the model trained once per run from data/ and config.yml."""
    pipeline: Pipeline = interpreter.pipeline
    return pipeline


@pytest.fixture(scope="session")
def held_out() -> TrainingData:
    return load_training_data([HELD_OUT])


def _parses(pipeline: Pipeline, data: TrainingData) -> list[tuple[str, str, dict[str, Any]]]:
    parses = pipeline.parse_many([ex.text for ex in data.examples])
    return [(ex.text, ex.intent, p) for ex, p in zip(data.examples, parses, strict=True)]


def test_held_out_set_is_not_training_data(held_out: TrainingData) -> None:
    from nlu.normalizers import to_simplified

    def key(text: str) -> str:
        return "".join(to_simplified(text).lower().split())

    training = {key(ex.text) for ex in load_training_data([ROOT / "data"]).examples}
    assert not [ex.text for ex in held_out.examples if key(ex.text) in training]
    counts = {OUT_OF_SCOPE: 0, "in_scope": 0}
    for ex in held_out.examples:
        counts[OUT_OF_SCOPE if ex.intent == OUT_OF_SCOPE else "in_scope"] += 1
    assert counts[OUT_OF_SCOPE] >= 50 and counts["in_scope"] >= 50


def test_out_of_domain_text_falls_back(project_pipeline: Pipeline, held_out: TrainingData) -> None:
    rows = [row for row in _parses(project_pipeline, held_out) if row[1] == OUT_OF_SCOPE]
    missed = [
        (text, p["intent"]["name"], round(p["intent"]["confidence"], 2))
        for text, _, p in rows
        if p["intent"]["name"] not in (FALLBACK, OUT_OF_SCOPE)
    ]
    caught = 1 - len(missed) / len(rows)
    assert caught >= 0.85, f"only {caught:.0%} of out-of-domain texts caught; missed: {missed}"


def test_in_domain_paraphrases_keep_their_intent(
    project_pipeline: Pipeline, held_out: TrainingData
) -> None:
    rows = [row for row in _parses(project_pipeline, held_out) if row[1] != OUT_OF_SCOPE]
    wrong = [
        (text, gold, p["intent"]["name"], round(p["intent"]["confidence"], 2))
        for text, gold, p in rows
        if p["intent"]["name"] != gold
    ]
    kept = 1 - len(wrong) / len(rows)
    assert kept >= 0.95, f"only {kept:.0%} of paraphrases kept their intent; wrong: {wrong}"


def test_issue_examples_fall_back(project_pipeline: Pipeline) -> None:
    for text in ("蓝色的大象在跳舞", "asdkjh qwe", "😂😂😂", "。。。"):
        result = project_pipeline.parse(text)
        assert result["intent"]["name"] == FALLBACK, (text, result["intent_ranking"][:3])
        # the classifier's own ranking stays under the fallback, scaled down
        assert result["intent_ranking"][1]["confidence"] < 0.3


def test_nlu_test_reports_both_rates(project_pipeline: Pipeline, held_out: TrainingData) -> None:
    intent = evaluate(project_pipeline.parse_many, held_out).intent
    assert intent["out_of_scope_caught_rate"] >= 0.85
    assert intent["in_scope_fallback_rate"] <= 0.05
