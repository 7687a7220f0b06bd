"""NLU benchmark: training time, CAIS scores against CM-Net, parse latency, throughput, memory,
load time and cross-validation. Run `python bench/nlu.py` (or `make bench`) from the repo root.

Ratios compare with a plain baseline measured in the same run on the same machine: TF-IDF
character 1-3 grams + scikit-learn LogisticRegression (intent only, no entities). The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.config import load_config  # noqa: E402
from nlu.evaluation import cross_validate, score  # noqa: E402
from nlu.model_store import train_model, train_pipeline  # noqa: E402
from nlu.training_data import TrainingData, load_training_data  # noqa: E402

CM_NET = {"intent_accuracy": 0.9456, "slot_f1": 0.8616}
TARGETS = {
    "parse_p50_ms": 0.5,
    "parse_p99_ms": 2.0,
    "training_s": 10.0,
    "cv_accuracy": 0.95,
    "load_s": 1.0,
    "cais_training_s": 30.0,
}


def baseline_fit(data: TrainingData) -> Any:
    """The plain baseline: TF-IDF char n-grams + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
        LogisticRegression(max_iter=2000, C=10.0),
    )
    return model.fit([e.text for e in data.examples], [e.intent for e in data.examples])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_cais(cais: Path, config_path: Path) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    train = load_training_data([cais / "nlu_train.yml"])
    test = load_training_data([cais / "nlu_test.yml"])
    pipeline, metrics = train_pipeline(train, load_config(config_path))
    started = time.perf_counter()
    parses = pipeline.parse_many([e.text for e in test.examples])
    parse_s = time.perf_counter() - started
    result = score(test.examples, parses)
    started = time.perf_counter()
    base = baseline_fit(train)
    base_train_s = time.perf_counter() - started
    gold = [e.intent for e in test.examples]
    base_pred = list(base.predict([e.text for e in test.examples]))
    base_acc = sum(g == p for g, p in zip(gold, base_pred, strict=True)) / len(gold)
    base_f1 = f1_score(gold, base_pred, average="macro", labels=sorted(set(gold) | set(base_pred)))
    return {
        "train_examples": len(train.examples),
        "test_examples": len(test.examples),
        "intent_accuracy": result.intent["accuracy"],
        "intent_macro_f1": result.intent["macro_f1"],
        "entity_precision": result.entities["precision"],
        "entity_recall": result.entities["recall"],
        "entity_f1": result.entities["f1"],
        "training_s": metrics["training_seconds"],
        "parse_ms_mean": round(parse_s / len(test.examples) * 1000, 4),
        "cm_net": CM_NET,
        "beats_cm_net": {
            "intent_accuracy": result.intent["accuracy"] > CM_NET["intent_accuracy"],
            "entity_f1": result.entities["f1"] > CM_NET["slot_f1"],
        },
        "baseline": {
            "intent_accuracy": round(base_acc, 4),
            "intent_macro_f1": round(float(base_f1), 4),
            "training_s": round(base_train_s, 3),
        },
        "accuracy_ratio_vs_baseline": round(result.intent["accuracy"] / base_acc, 4),
    }


def load_probe(model_dir: Path) -> dict[str, Any]:
    """Load the model in a fresh process: time (with and without imports) and resident memory."""
    code = (
        "import time, resource, sys\n"
        "t0 = time.perf_counter()\n"
        "from nlu.interpreter import Interpreter\n"
        "t1 = time.perf_counter()\n"
        f"i = Interpreter.from_model_dir(__import__('pathlib').Path({str(model_dir)!r}))\n"
        "t2 = time.perf_counter()\n"
        "i.parse('你好')\n"
        "rss = 0\n"
        "for line in open('/proc/self/status'):\n"
        "    if line.startswith('VmRSS:'): rss = int(line.split()[1]) / 1024\n"
        "import json; print(json.dumps({'import_s': t1 - t0, 'load_s': t2 - t1,"
        " 'total_s': t2 - t0, 'rss_mb': rss}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    runs = [json.loads(out.strip().splitlines()[-1])]
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["total_s"])
    return {k: round(v, 4) for k, v in best.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument(
        "--cais",
        type=Path,
        default=Path(os.environ.get("TAXDESK_CAIS_DIR", ROOT / "../shared/datasets/cais")),
    )
    parser.add_argument("--parses", type=int, default=3000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-cais", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"machine_note": "shared 2-core machine; timings are noisy"}

    data = load_training_data([args.data])
    config = load_config(args.config)
    _, metrics = train_pipeline(data, config)
    figures["training_s"] = metrics["training_seconds"]
    figures["training_examples"] = len(data.examples)
    print(f"training on {len(data.examples)} examples: {metrics['training_seconds']:.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        result = train_model([args.data], args.config, Path(tmp) / "models")
        from nlu.interpreter import Interpreter

        started = time.perf_counter()
        interpreter = Interpreter.from_model_dir(result.model_dir)
        figures["load_in_process_s"] = round(time.perf_counter() - started, 4)
        probe = load_probe(result.model_dir)
        figures["load_fresh_process_s"] = probe
        figures["rss_mb_after_load"] = probe["rss_mb"]
        print(
            f"model load: {figures['load_in_process_s']:.3f} s in process, fresh process "
            f"{probe['load_s']:.3f} s (+{probe['import_s']:.3f} s imports), "
            f"RSS {probe['rss_mb']:.0f} MB"
        )

        texts = [e.text for e in data.examples]
        for text in texts[:50]:
            interpreter.parse(text)
        latencies = []
        for i in range(args.parses):
            text = texts[i % len(texts)]
            started = time.perf_counter()
            interpreter.parse(text)
            latencies.append((time.perf_counter() - started) * 1000)
        figures["parse_p50_ms"] = round(statistics.median(latencies), 4)
        figures["parse_p99_ms"] = round(percentile(latencies, 0.99), 4)
        figures["parses_timed"] = len(latencies)
        started = time.perf_counter()
        batch = texts * max(1, 5000 // len(texts))
        assert interpreter.pipeline is not None
        interpreter.pipeline.parse_many(batch)
        figures["batch_messages_per_s"] = round(len(batch) / (time.perf_counter() - started))

    base = baseline_fit(data)
    base_lat = []
    for i in range(min(args.parses, 1000)):
        started = time.perf_counter()
        base.predict_proba([texts[i % len(texts)]])
        base_lat.append((time.perf_counter() - started) * 1000)
    figures["baseline_parse_p50_ms"] = round(statistics.median(base_lat), 4)
    figures["parse_p50_ratio_vs_baseline"] = round(
        figures["parse_p50_ms"] / figures["baseline_parse_p50_ms"], 4
    )
    print(
        f"parse latency over {len(latencies)} parses: p50 {figures['parse_p50_ms']:.3f} ms, "
        f"p99 {figures['parse_p99_ms']:.3f} ms (baseline TF-IDF+LogReg predict_proba p50 "
        f"{figures['baseline_parse_p50_ms']:.3f} ms); batch "
        f"{figures['batch_messages_per_s']} messages/s"
    )

    cv = cross_validate(data, config, folds=args.folds)
    figures["cv"] = {
        "folds": args.folds,
        "intent_accuracy": cv.intent["accuracy"],
        "intent_macro_f1": cv.intent["macro_f1"],
        "entity_f1": cv.entities["f1"],
        "fallback_rate": cv.intent["fallback_rate"],
        "ece": cv.intent["ece"],
    }
    print(
        f"{args.folds}-fold cross-validation: accuracy {cv.intent['accuracy']:.4f}, "
        f"macro-F1 {cv.intent['macro_f1']:.4f}, entity F1 {cv.entities['f1']:.4f}"
    )

    if not args.skip_cais:
        cais = args.cais.resolve()
        if (cais / "nlu_train.yml").exists():
            figures["cais"] = bench_cais(cais, args.config)
            c = figures["cais"]
            print(
                f"CAIS: intent accuracy {c['intent_accuracy']:.4f} (CM-Net 0.9456, baseline "
                f"{c['baseline']['intent_accuracy']:.4f}), macro-F1 {c['intent_macro_f1']:.4f},"
                f" entity F1 {c['entity_f1']:.4f} (CM-Net 0.8616), training "
                f"{c['training_s']:.1f} s"
            )
        else:
            figures["cais"] = {"error": f"not found: {cais} (use --cais PATH)"}
            print(figures["cais"]["error"])

    checks = {
        "parse_p50_ms": figures["parse_p50_ms"] <= TARGETS["parse_p50_ms"],
        "parse_p99_ms": figures["parse_p99_ms"] <= TARGETS["parse_p99_ms"],
        "training_s": figures["training_s"] <= TARGETS["training_s"],
        "cv_accuracy": figures["cv"]["intent_accuracy"] >= TARGETS["cv_accuracy"],
        "load_s": figures["load_in_process_s"] <= TARGETS["load_s"],
    }
    if "training_s" in figures.get("cais", {}):
        checks["cais_training_s"] = figures["cais"]["training_s"] <= TARGETS["cais_training_s"]
        checks.update({f"cais_{k}": v for k, v in figures["cais"]["beats_cm_net"].items()})
    figures["targets"] = TARGETS
    figures["targets_met"] = checks
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
