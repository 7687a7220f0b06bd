"""Evaluation of a model or a pipeline (cross-validation) on Rasa-format data.

Intent figures score the classifier's top intent (a fallback is reported as a rate, as Rasa
does). An entity counts as right when its type and its span match the annotation exactly
(conlleval's rule); the normalised value is checked separately where the annotation gives one.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu.components.classifiers import FALLBACK_INTENT
from nlu.config import NluConfig
from nlu.pipeline import Pipeline, _top_intent
from nlu.training_data import Example, TrainingData

Parser = Callable[[list[str]], list[dict[str, Any]]]
OUT_OF_SCOPE_INTENT = "out_of_scope"


@dataclass
class EvaluationResult:
    """All figures of one evaluation; `as_dict()` is what `nlu test --json` prints."""

    intent: dict[str, Any]
    entities: dict[str, Any]
    errors: list[dict[str, Any]]
    labels: list[str]
    confusion: list[list[int]]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "entities": self.entities,
            "errors": self.errors,
            "confusion_matrix": {"labels": self.labels, "matrix": self.confusion},
            **self.extra,
        }


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _ece(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    conf = np.asarray(confidences)
    hit = np.asarray(correct, dtype=float)
    total = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        mask = (conf > lo) & (conf <= lo + 1 / bins)
        if mask.any():
            total += mask.sum() / len(conf) * abs(hit[mask].mean() - conf[mask].mean())
    return round(float(total), 4)


def score(examples: list[Example], parses: list[dict[str, Any]]) -> EvaluationResult:
    """Compare parses with the gold examples."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    gold = [ex.intent for ex in examples]
    pred = [_top_intent(p["intent_ranking"]) or "" for p in parses]
    confs = [
        next((r["confidence"] for r in p["intent_ranking"] if r["name"] != FALLBACK_INTENT), 0.0)
        for p in parses
    ]
    labels = sorted(set(gold) | set(pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, pred, labels=labels, zero_division=0
    )
    report = {
        label: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    correct = [g == p for g, p in zip(gold, pred, strict=True)]
    n = max(len(examples), 1)
    final = [p["intent"]["name"] for p in parses]
    in_scope = [f for g, f in zip(gold, final, strict=True) if g != OUT_OF_SCOPE_INTENT]
    oos = [f for g, f in zip(gold, final, strict=True) if g == OUT_OF_SCOPE_INTENT]
    intent = {
        "accuracy": round(sum(correct) / n, 4),
        "macro_f1": round(float(np.mean(f1)) if len(labels) else 0.0, 4),
        "weighted_f1": round(float(np.average(f1, weights=support)) if support.sum() else 0.0, 4),
        "fallback_rate": round(sum(p["intent"]["name"] == FALLBACK_INTENT for p in parses) / n, 4),
        # fallback on text annotated with a real intent (the rephrase prompt shown needlessly)
        "in_scope_fallback_rate": (
            round(sum(f == FALLBACK_INTENT for f in in_scope) / len(in_scope), 4)
            if in_scope
            else None
        ),
        # text annotated out_of_scope that ended as nlu_fallback or out_of_scope (not as a
        # confident wrong intent)
        "out_of_scope_caught_rate": (
            round(sum(f in (FALLBACK_INTENT, OUT_OF_SCOPE_INTENT) for f in oos) / len(oos), 4)
            if oos
            else None
        ),
        "ece": _ece(confs, correct),
        "examples": len(examples),
        "report": report,
    }
    tp_by: Counter[str] = Counter()
    fp_by: Counter[str] = Counter()
    fn_by: Counter[str] = Counter()
    values_checked = values_right = 0
    errors: list[dict[str, Any]] = []
    for ex, parse, p_intent, conf in zip(examples, parses, pred, confs, strict=True):
        gold_spans = {(a.entity, a.start, a.end): a for a in ex.entities}
        pred_spans = {(e["entity"], e["start"], e["end"]): e for e in parse["entities"]}
        for key in gold_spans.keys() & pred_spans.keys():
            tp_by[key[0]] += 1
            if gold_spans[key].explicit_value:
                values_checked += 1
                values_right += str(pred_spans[key]["value"]) == gold_spans[key].value
        missed = gold_spans.keys() - pred_spans.keys()
        extra = pred_spans.keys() - gold_spans.keys()
        for key in missed:
            fn_by[key[0]] += 1
        for key in extra:
            fp_by[key[0]] += 1
        if p_intent != ex.intent or missed or extra:
            errors.append(
                {
                    "text": ex.text,
                    "intent": ex.intent,
                    "predicted": p_intent,
                    "confidence": round(conf, 4),
                    "missed_entities": [
                        {"entity": k[0], "start": k[1], "end": k[2], "text": ex.text[k[1] : k[2]]}
                        for k in sorted(missed)
                    ],
                    "extra_entities": [
                        {"entity": k[0], "start": k[1], "end": k[2], "text": ex.text[k[1] : k[2]]}
                        for k in sorted(extra)
                    ],
                    "source": ex.source,
                }
            )
    types = sorted(set(tp_by) | set(fp_by) | set(fn_by))
    per_type = {
        t: {**_prf(tp_by[t], fp_by[t], fn_by[t]), "support": tp_by[t] + fn_by[t]} for t in types
    }
    overall = _prf(sum(tp_by.values()), sum(fp_by.values()), sum(fn_by.values()))
    entities = {
        **overall,
        "support": sum(tp_by.values()) + sum(fn_by.values()),
        "per_type": per_type,
        "value_accuracy": round(values_right / values_checked, 4) if values_checked else None,
        "values_checked": values_checked,
    }
    matrix = confusion_matrix(gold, pred, labels=labels).tolist() if labels else []
    return EvaluationResult(intent, entities, errors, labels, matrix)


def evaluate(parse_many: Parser, data: TrainingData) -> EvaluationResult:
    """Score a trained model (any batch parser) on the data's examples."""
    examples = data.examples
    return score(examples, parse_many([ex.text for ex in examples]))


def cross_validate(
    data: TrainingData, config: NluConfig, folds: int = 5, seed: int = 0
) -> EvaluationResult:
    """Stratified k-fold cross-validation of the pipeline of `config` on `data`."""
    from sklearn.model_selection import StratifiedKFold

    examples = data.examples
    labels = [ex.intent for ex in examples]
    counts = Counter(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    ordered: list[Example] = []
    parses: list[dict[str, Any]] = []
    fold_scores = []
    train_seconds = []
    # classes with fewer examples than folds cannot be stratified: keep them in training
    strat = [label if counts[label] >= folds else "__rare__" for label in labels]
    for train_idx, test_idx in splitter.split(np.zeros(len(examples)), strat):
        started = time.perf_counter()
        pipeline = Pipeline.from_config(config).train(
            data.subset([examples[i] for i in train_idx])
        )
        train_seconds.append(time.perf_counter() - started)
        test = [examples[i] for i in test_idx]
        fold_parses = pipeline.parse_many([ex.text for ex in test])
        fold_scores.append(score(test, fold_parses).intent["accuracy"])
        ordered.extend(test)
        parses.extend(fold_parses)
    result = score(ordered, parses)
    result.extra["cross_validation"] = {
        "folds": folds,
        "fold_accuracy": fold_scores,
        "mean_training_seconds": round(float(np.mean(train_seconds)), 3),
    }
    return result


def write_reports(result: EvaluationResult, out_dir: Path) -> dict[str, Path]:
    """`report.json`, `errors.json` and `confusion_matrix.png` under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out_dir / "report.json",
        "errors": out_dir / "errors.json",
        "confusion_matrix": out_dir / "confusion_matrix.png",
    }
    report = result.as_dict()
    report.pop("errors")
    paths["report"].write_text(json.dumps(report, ensure_ascii=False, indent=1))
    paths["errors"].write_text(json.dumps(result.errors, ensure_ascii=False, indent=1))
    plot_confusion(result.labels, result.confusion, paths["confusion_matrix"])
    return paths


def plot_confusion(labels: list[str], matrix: list[list[int]], path: Path) -> None:
    """Draw the confusion matrix (rows: gold, columns: predicted) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(6.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    data = np.asarray(matrix) if matrix else np.zeros((1, 1))
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    limit = data.max() / 2 if data.size else 0
    for (i, j), value in np.ndenumerate(data):
        if value:
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > limit else "black",
            )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_summary(result: EvaluationResult) -> str:
    """A human-readable report for the terminal."""
    lines = [
        f"intent accuracy {result.intent['accuracy']:.4f}  macro-F1 "
        f"{result.intent['macro_f1']:.4f}  fallback rate {result.intent['fallback_rate']:.4f}"
        f"  ECE {result.intent['ece']:.4f}  ({result.intent['examples']} examples)",
    ]
    if result.intent.get("in_scope_fallback_rate") is not None:
        lines.append(f"fallback on in-scope text {result.intent['in_scope_fallback_rate']:.4f}")
    if result.intent.get("out_of_scope_caught_rate") is not None:
        lines.append(
            "out_of_scope text ending as nlu_fallback or out_of_scope "
            f"{result.intent['out_of_scope_caught_rate']:.4f}"
        )
    lines += [
        "",
        f"{'intent':32} {'prec':>6} {'rec':>6} {'f1':>6} {'support':>8}",
    ]
    for label, row in result.intent["report"].items():
        lines.append(
            f"{label:32} {row['precision']:6.3f} {row['recall']:6.3f} "
            f"{row['f1']:6.3f} {row['support']:8d}"
        )
    ents = result.entities
    lines += [
        "",
        f"entities P {ents['precision']:.4f} R {ents['recall']:.4f} "
        f"F1 {ents['f1']:.4f} (exact span, {ents['support']} gold)",
    ]
    if ents["value_accuracy"] is not None:
        lines.append(
            f"entity values right {ents['value_accuracy']:.4f} "
            f"of {ents['values_checked']} annotated values"
        )
    for etype, row in ents["per_type"].items():
        lines.append(
            f"  {etype:30} {row['precision']:6.3f} {row['recall']:6.3f} "
            f"{row['f1']:6.3f} {row['support']:8d}"
        )
    lines += ["", f"{len(result.errors)} examples with errors"]
    for err in result.errors[:20]:
        lines.append(
            f"  {err['text']!r}: {err['intent']} → {err['predicted']} "
            f"({err['confidence']:.2f})"
            + (
                f" missed {[e['text'] for e in err['missed_entities']]}"
                if err["missed_entities"]
                else ""
            )
            + (
                f" extra {[e['text'] for e in err['extra_entities']]}"
                if err["extra_entities"]
                else ""
            )
        )
    return "\n".join(lines)
