"""Confidence calibration when admins add tiny intents (issue 11).

An intent taught with one example must not change how confident the model is about the other
intents: before the fix, the temperature calibration fell back to T = 1 for the whole model as
soon as one intent had fewer than two examples, and almost every in-scope message fell back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nlu.components.classifiers import SklearnIntentClassifier, calibration_rows
from nlu.config import parse_config
from nlu.pipeline import Pipeline
from nlu.training_data import Example, TrainingData, load_training_data

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = ROOT / "tests" / "fixtures" / "nlu_ood.yml"
# What an admin adds first: new intents with one example each.
ONE_EXAMPLE_INTENTS = [
    Example("税务局门口能停车吗", "faq_parking"),
    Example("我要补打完税凭证", "request_receipt_copy"),
    Example("微信公众号怎么绑定", "faq_wechat_bind"),
]
LIGHT_PIPELINE = [
    {"name": "OpenCCNormalizer"},
    {"name": "JiebaTokenizer", "dictionary_size": 20000},
    {"name": "CountVectorsFeaturizer", "analyzer": "word"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char", "max_ngram": 3},
    {"name": "SklearnIntentClassifier"},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
]


def _train(data: TrainingData) -> Pipeline:
    config = parse_config({"language": "zh", "pipeline": LIGHT_PIPELINE}, None)
    return Pipeline.from_config(config).train(data)


def _temperature(pipeline: Pipeline) -> float:
    (classifier,) = [c for c in pipeline.components if isinstance(c, SklearnIntentClassifier)]
    return classifier.temperature


@pytest.mark.parametrize(
    ("counts", "folds", "held_labels"),
    [
        ([5, 1, 3], 3, {0, 2}),  # the one-example intent stays in training, 3 folds kept
        ([6, 2, 9, 1], 3, {0, 2}),  # two examples: too few for 3 folds, also kept out
        ([2, 2, 1], 2, {0, 1}),  # fewer folds only when fewer than two intents have 3
        ([1, 1, 5], 0, set()),  # no two intents to hold out: no calibration
    ],
)
def test_calibration_rows_skip_tiny_intents(
    counts: list[int], folds: int, held_labels: set[int]
) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    rows, got_folds = calibration_rows(y, len(counts), 3)
    assert got_folds == folds
    assert set(y[rows].tolist()) == held_labels
    assert len(rows) == sum(counts[label] for label in held_labels)


@pytest.mark.slow
def test_one_example_intents_leave_the_others_confidence_alone() -> None:
    data = load_training_data([ROOT / "data" / "nlu.yml"])
    held_out = [e for e in load_training_data([HELD_OUT]).examples if e.intent in data.intents]
    assert len(held_out) >= 50
    texts = [e.text for e in held_out]

    before = _train(data)
    after = _train(data.subset(data.examples + ONE_EXAMPLE_INTENTS))

    t_before, t_after = _temperature(before), _temperature(after)
    assert t_before < 0.5  # calibrated (uncalibrated LinearSVC scores need T well below 1)
    assert abs(t_after - t_before) / t_before < 0.25

    def fallback_rate(pipeline: Pipeline) -> float:
        parses = pipeline.parse_many(texts)
        return sum(p["intent"]["name"] == "nlu_fallback" for p in parses) / len(parses)

    rate_before, rate_after = fallback_rate(before), fallback_rate(after)
    assert rate_after <= rate_before + 0.05, (rate_before, rate_after)
    assert rate_after < 0.15
    # the new intents are learnt too: each one's own example parses to it
    for example in ONE_EXAMPLE_INTENTS:
        assert after.parse(example.text)["intent"]["name"] == example.intent


@pytest.mark.slow
def test_five_example_intents_catch_more_paraphrases_with_the_few_shot_helps() -> None:
    data = load_training_data([ROOT / "data" / "nlu.yml"])
    few = ["request_refund", "faq_location", "request_tax_certificate"]
    train, test = [], []
    for intent in data.intents:
        examples = [e for e in data.examples if e.intent == intent]
        if intent in few:
            train += examples[:5]
            test += examples[5:]
        else:
            train += examples
    subset = data.subset(train)

    def recall(**options: object) -> float:
        pipeline = [
            {**item, **options} if item["name"] == "SklearnIntentClassifier" else item
            for item in LIGHT_PIPELINE
        ]
        config = parse_config({"language": "zh", "pipeline": pipeline}, None)
        trained = Pipeline.from_config(config).train(subset)
        parses = trained.parse_many([e.text for e in test])
        return sum(
            p["intent"]["name"] == e.intent for p, e in zip(parses, test, strict=True)
        ) / len(test)

    without, default = recall(few_shot_examples=0), recall()
    assert default >= without + 0.1, (without, default)


def test_few_shot_training_is_reproducible() -> None:
    data = load_training_data([ROOT / "tests" / "fixtures" / "nlu"])
    first, second = _train(data), _train(data)
    (a,) = [c for c in first.components if isinstance(c, SklearnIntentClassifier)]
    (b,) = [c for c in second.components if isinstance(c, SklearnIntentClassifier)]
    assert np.array_equal(a.weights, b.weights) and a.temperature == b.temperature


def test_logistic_regression_is_calibrated_too() -> None:
    """`model: logreg` fitted its calibration folds with the SVM's loose tolerance: lbfgs then
    stopped far from the optimum, the temperature hit the edge of its grid, and on a few-shot
    split every parse fell back (on the full data every confidence was 1.0)."""
    data = load_training_data([ROOT / "data"])
    pipeline = [
        {**item, "model": "logreg", "C": 10.0}
        if item["name"] == "SklearnIntentClassifier"
        else item
        for item in LIGHT_PIPELINE
    ]
    config = parse_config({"language": "zh", "pipeline": pipeline}, None)
    trained = Pipeline.from_config(config).train(data)
    assert 0.011 < _temperature(trained) < 19.9  # inside the grid, not on its edge
    held = [
        e
        for e in load_training_data([HELD_OUT]).examples
        if e.intent in data.intents and e.intent != "out_of_scope"
    ]
    finals = [p["intent"]["name"] for p in trained.parse_many([e.text for e in held])]
    assert sum(f == "nlu_fallback" for f in finals) / len(finals) < 0.2
    assert sum(f == e.intent for f, e in zip(finals, held, strict=True)) / len(held) > 0.7


def test_large_data_calibrates_on_one_held_out_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `calibration_max_rows`, one split scores that many held-out rows (one extra fit
    instead of one per fold) and the temperature stays close to the folds' one."""
    data = load_training_data([ROOT / "data"])
    fits: list[int] = []
    real_fit = SklearnIntentClassifier._fit

    def counting_fit(self: SklearnIntentClassifier, x: Any, *args: Any, **kw: Any) -> Any:
        fits.append(x.shape[0])
        return real_fit(self, x, *args, **kw)

    monkeypatch.setattr(SklearnIntentClassifier, "_fit", counting_fit)
    temperatures = {}
    for limit in (0, 400):
        fits.clear()
        pipeline = [
            {**item, "calibration_max_rows": limit}
            if item["name"] == "SklearnIntentClassifier"
            else item
            for item in LIGHT_PIPELINE
        ]
        config = parse_config({"language": "zh", "pipeline": pipeline}, None)
        temperatures[limit] = _temperature(Pipeline.from_config(config).train(data))
        if limit:
            assert len(fits) == 2  # the final model and one calibration fit
            assert sorted(fits)[0] == len(data.examples) - 400
        else:
            assert len(fits) == 4  # the final model and three folds
    assert temperatures[400] == pytest.approx(temperatures[0], rel=0.25)
