"""Evaluation arithmetic: intent accuracy/macro-F1, exact-span entity scores, fallback rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlu.evaluation import plot_confusion, score
from nlu.training_data import EntityAnnotation, Example


def parse(
    intent: str,
    entities: list[tuple[str, int, int, str]],
    fallback: bool = False,
    confidence: float = 0.9,
) -> dict[str, Any]:
    ranking = [{"name": intent, "confidence": confidence}]
    top = {"name": "nlu_fallback", "confidence": 0.3} if fallback else dict(ranking[0])
    if fallback:
        ranking = [dict(top), *ranking]
    return {
        "text": "",
        "intent": top,
        "intent_ranking": ranking,
        "entities": [
            {"entity": e, "start": s, "end": t, "value": v, "extractor": "x"}
            for e, s, t, v in entities
        ],
    }


def test_scores() -> None:
    examples = [
        Example(
            "改2019年12月增值税",
            "request_correction",
            [
                EntityAnnotation("tax_period", 1, 9, "2019年12月", "2019年12月"),
                EntityAnnotation("tax_type", 9, 12, "增值税", "vat", explicit_value=True),
            ],
        ),
        Example("你好", "greet"),
        Example("再见", "goodbye"),
        Example("拜拜", "goodbye"),
    ]
    parses = [
        # period span too short (wrong), tax type right with the right value
        parse("request_correction", [("tax_period", 1, 6, "2019"), ("tax_type", 9, 12, "vat")]),
        parse("greet", [], fallback=True),  # fallback, but the classifier's top intent is right
        parse("goodbye", []),
        parse("greet", [("tax_type", 0, 1, "x")]),  # wrong intent, spurious entity
    ]
    result = score(examples, parses)
    assert result.intent["accuracy"] == 0.75
    assert result.intent["fallback_rate"] == 0.25
    assert result.intent["in_scope_fallback_rate"] == 0.25
    assert result.intent["out_of_scope_caught_rate"] is None  # no out_of_scope examples
    # per-intent F1: request_correction 1, greet 2/3, goodbye 2/3 → macro (1 + 2/3 + 2/3) / 3
    assert result.intent["macro_f1"] == pytest.approx(0.7778, abs=1e-4)
    assert result.intent["report"]["goodbye"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
        "support": 2,
    }
    ents = result.entities
    assert (ents["precision"], ents["recall"]) == (round(1 / 3, 4), 0.5)
    assert ents["per_type"]["tax_period"]["f1"] == 0.0
    assert ents["per_type"]["tax_type"]["recall"] == 1.0
    assert ents["value_accuracy"] == 1.0 and ents["values_checked"] == 1
    assert [e["text"] for e in result.errors] == ["改2019年12月增值税", "拜拜"]
    assert result.labels == ["goodbye", "greet", "request_correction"]
    assert result.confusion == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_out_of_scope_rates() -> None:
    examples = [
        Example("asdf", "out_of_scope"),
        Example("天气", "out_of_scope"),
        Example("😂", "out_of_scope"),
        Example("你好", "greet"),
        Example("谢谢", "thank"),
    ]
    parses = [
        parse("greet", [], fallback=True),  # caught by the fallback
        parse("out_of_scope", []),  # caught by the classifier
        parse("affirm", []),  # a confident wrong intent: not caught
        parse("greet", []),
        parse("thank", [], fallback=True),  # right intent, but shown the rephrase prompt
    ]
    intent = score(examples, parses).intent
    assert intent["out_of_scope_caught_rate"] == round(2 / 3, 4)
    assert intent["in_scope_fallback_rate"] == 0.5
    assert intent["fallback_rate"] == 0.4


def test_confusion_png(tmp_path: Path) -> None:
    path = tmp_path / "cm.png"
    plot_confusion(["a", "b"], [[3, 1], [0, 2]], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
