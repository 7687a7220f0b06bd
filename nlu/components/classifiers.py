"""Intent classification (linear model, temperature-calibrated) and the fallback classifier."""

from __future__ import annotations

import json
import math
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

import numpy as np

from nlu.components.base import Component, register
from nlu.errors import ConfigError
from nlu.message import Message
from nlu.training_data import TrainingData

FALLBACK_INTENT = "nlu_fallback"


def _stack(messages: list[Message], keys: list[str], dims: list[int]) -> Any:
    from scipy import sparse

    offsets = [int(o) for o in np.cumsum([0, *dims])]
    indptr = [0]
    cols: list[int] = []
    vals: list[float] = []
    for message in messages:
        blocks = {key: (idx, val) for key, idx, val, _ in message.sparse}
        for key, offset in zip(keys, offsets, strict=False):
            idx, val = blocks[key]
            cols.extend([i + offset for i in idx] if offset else idx)
            vals.extend(val)
        indptr.append(len(cols))
    matrix = sparse.csr_matrix(
        (np.array(vals, dtype=np.float64), np.array(cols, dtype=np.int64), np.array(indptr)),
        shape=(len(messages), offsets[-1]),
    )
    matrix.sum_duplicates()
    return matrix


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that minimises the log-loss of out-of-fold scores."""
    best_t, best_loss = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.01), math.log(20.0), 120)):
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -float(logp[np.arange(len(labels)), labels].mean())
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def _augment(x: Any, y: np.ndarray, tiny: np.ndarray, copies: int, keep: float) -> Any:
    """`x, y` plus `copies` copies of each row of a tiny intent, each feature kept with
    probability `keep` (feature dropout; seeded, so training is reproducible)."""
    from scipy import sparse

    rows = np.flatnonzero(tiny[y])
    if not len(rows):
        return x, y
    rng = np.random.default_rng(0)
    extra = x[np.repeat(rows, copies)].tocsr()
    extra.data = extra.data * (rng.random(len(extra.data)) < keep)
    extra.eliminate_zeros()
    return sparse.vstack([x, extra]).tocsr(), np.concatenate([y, np.repeat(y[rows], copies)])


def calibration_rows(y: np.ndarray, n_labels: int, max_folds: int) -> tuple[np.ndarray, int]:
    """The rows whose out-of-fold scores calibrate the temperature, and the number of folds.

    Uses `max_folds` folds over the intents that have at least that many examples, or fewer
    folds when fewer than two intents have that many; `(empty, 0)` when no two intents have
    two examples. Tiny intents never lower the folds nor switch calibration off.
    """
    counts = np.bincount(y, minlength=n_labels)
    for folds in range(max_folds, 1, -1):
        eligible = counts >= folds
        if int(eligible.sum()) >= 2:
            return np.flatnonzero(eligible[y]), folds
    return np.zeros(0, dtype=np.intp), 0


@register
class SklearnIntentClassifier(Component):
    """A scikit-learn linear classifier (LinearSVC or logistic regression) over all sparse
    features, with confidences calibrated by a softmax temperature fitted on cross-validated
    scores (minimum log-loss). Inference is one sparse dot product in numpy.
    """

    name = "SklearnIntentClassifier"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if self.config["model"] not in ("svm", "logreg"):
            raise ConfigError(f"{self.name}: model must be `svm` or `logreg`")
        self.labels: list[str] = []
        self.keys: list[str] = []
        self.dims: list[int] = []
        self.weights = np.zeros((0, 0))
        self.bias = np.zeros(0)
        self.temperature = 1.0

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {
            "model": "svm",
            "C": 2.0,
            "class_weight": "balanced",
            "calibration_folds": 3,
            "ranking_length": 10,
            "few_shot_examples": 10,
            "augment_copies": 10,
            "augment_keep": 0.4,
            "prototype_weight": 2.0,
            "calibration_tol": 0.01,
            "calibration_max_rows": 3000,
            "training_threads": 1,
        }

    def _estimator(self, tol: float = 1e-4) -> Any:
        if self.config["model"] == "svm":
            from sklearn.svm import LinearSVC

            return LinearSVC(
                C=self.config["C"],
                class_weight=self.config["class_weight"],
                max_iter=5000,
                tol=tol,
                random_state=0,
            )
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            C=self.config["C"],
            class_weight=self.config["class_weight"],
            max_iter=2000,
            tol=tol,
            random_state=0,
        )

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        gold = [m.gold.intent for m in messages if m.gold is not None]
        self.labels = sorted(set(gold))
        if not messages or not messages[0].sparse:
            raise ConfigError(f"{self.name} needs a featurizer before it in the pipeline")
        self.keys = [key for key, _, _, _ in messages[0].sparse]
        self.dims = [dim for _, _, _, dim in messages[0].sparse]
        if len(self.labels) < 2:
            self.weights = np.zeros((sum(self.dims), len(self.labels)))
            self.bias = np.zeros(len(self.labels))
            return
        x = _stack(messages, self.keys, self.dims)
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.array([index[label] for label in gold])
        # liblinear releases the GIL, so with 2 threads the final fit and the calibration folds
        # run side by side; its random generator is shared, so weights then vary by ~1e-6 from
        # one training to the next (1 thread: the same data always gives the same model).
        threads = max(1, int(self.config["training_threads"]))
        # import what both threads use here, first: two threads importing sklearn for the
        # first time at once can meet a half-initialised module (ImportError in CI once)
        import sklearn.linear_model
        import sklearn.model_selection
        import sklearn.svm  # noqa: F401

        with ThreadPoolExecutor(max_workers=threads) as pool:
            final = pool.submit(self._fit, x, y)
            self.temperature = self._calibrate(x, y, pool)
            self.weights, self.bias = final.result()

    def _fit(
        self, x: Any, y: np.ndarray, counts: np.ndarray | None = None, tol: float = 1e-4
    ) -> tuple[np.ndarray, np.ndarray]:
        """The linear model (weights: features × labels) for rows `x` with labels `y`;
        `counts` (default: those of `y`) are the examples per intent in the whole training
        data, so the calibration folds treat each intent as the final model does.

        Intents with fewer than `few_shot_examples` examples get two helps, both measured in
        bench/nlu.py (few-shot recall): `augment_copies` copies of each of their examples with
        each feature kept with probability `augment_keep` (so the model spreads weight over all
        their n-grams instead of the few that separate five examples), and the cosine
        similarity to their examples' centroid added to their score with weight
        `prototype_weight × (1 − count / few_shot_examples)`. The centroid term is linear, so it
        is folded into the weights and parsing costs the same.
        """
        n_labels = len(self.labels)
        if counts is None:
            counts = np.bincount(y, minlength=n_labels)
        small = int(self.config["few_shot_examples"])
        tiny = counts < small
        fit_x, fit_y = x, y
        copies = int(self.config["augment_copies"])
        if tiny.any() and copies > 0:
            fit_x, fit_y = _augment(x, y, tiny, copies, float(self.config["augment_keep"]))
        if len(np.unique(fit_y)) < n_labels:  # the calibration folds keep every intent
            raise RuntimeError(f"{self.name}: a fit without an example of some intent")
        weights, bias = self._linear(self._estimator(tol).fit(fit_x, fit_y))
        proto = float(self.config["prototype_weight"])
        if tiny.any() and proto > 0:
            for label in np.flatnonzero(tiny):
                centroid = np.asarray(x[y == label].mean(axis=0)).ravel()
                norm = float(np.linalg.norm(centroid))
                if norm > 0:
                    scale = proto * (1.0 - counts[label] / small)
                    weights[:, label] += centroid * (scale / norm)
        return weights, bias

    def _linear(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        coef = np.asarray(model.coef_, dtype=np.float64)
        bias = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: one hyperplane → two symmetric scores
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2])
        return np.ascontiguousarray(coef.T), bias

    def _calibrate(self, x: Any, y: np.ndarray, pool: Executor) -> float:
        """Fit the temperature on out-of-fold scores.

        Only intents with at least as many examples as folds are held out; the examples of
        smaller intents (an intent an admin has just added with one example) stay in every
        training fold, so they compete in the scores as they do in the final model without
        cutting the number of folds, or skipping calibration, for everyone else.
        """
        from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

        rows, folds = calibration_rows(y, len(self.labels), int(self.config["calibration_folds"]))
        if folds < 2:
            return 1.0
        always = np.setdiff1d(np.arange(len(y)), rows)
        counts = np.bincount(y, minlength=len(self.labels))
        # liblinear's SVM stops on its dual gap, and the temperature needs no tighter fits than
        # 0.01 (the folds then cost a third). lbfgs's `tol` is on the gradient: stopped that
        # early, the folds' scores are a fraction of the final model's and the temperature
        # lands on the grid's edge (0.01 or 20), so every parse came out 1.0 or fell back.
        svm = self.config["model"] == "svm"
        tol = float(self.config["calibration_tol"]) if svm else 1e-4
        # One scalar needs no more than a few thousand scores: past `calibration_max_rows`,
        # one stratified split holds out that many rows and one fit on the rest scores them,
        # instead of `folds` fits on (folds - 1) / folds of the data each (10,000 examples:
        # the classifier's training 5.5 s -> 3.3 s, the temperature within a few percent).
        limit = int(self.config["calibration_max_rows"])
        splitter: Any
        if 0 < limit < len(rows) and limit >= len(self.labels):
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=limit, random_state=0)
        else:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        scored, parts = [], []
        for train_idx, test_idx in splitter.split(np.zeros(len(rows)), y[rows]):
            fit_rows = np.concatenate([rows[train_idx], always])
            fit = pool.submit(self._fit, x[fit_rows], y[fit_rows], counts, tol)
            parts.append((test_idx, fit))
        for test_idx, fit in parts:
            weights, bias = fit.result()
            scored.append((test_idx, x[rows[test_idx]] @ weights + bias))
        held = np.concatenate([idx for idx, _ in scored])
        scores = np.vstack([sc for _, sc in scored])
        return fit_temperature(scores, y[rows[held]])

    def scores(self, message: Message) -> np.ndarray:
        """Raw linear scores for each label."""
        blocks = message.sparse
        if [b[0] for b in blocks] != self.keys:
            by_key = {b[0]: b for b in blocks}
            blocks = [by_key[key] for key in self.keys]
        indices: list[int] = []
        values: list[float] = []
        offset = 0
        for (_, idx, val, _), dim in zip(blocks, self.dims, strict=True):
            indices.extend([i + offset for i in idx] if offset else idx)
            values.extend(val)
            offset += dim
        if not indices:
            return self.bias
        rows = self.weights.take(np.array(indices, dtype=np.intp), axis=0)
        return np.array(values) @ rows + self.bias

    def process(self, messages: list[Message]) -> None:
        n_rank = int(self.config["ranking_length"])
        labels = self.labels
        inv_t = 1.0 / self.temperature
        for message in messages:
            if len(labels) == 1:
                message.intent = {"name": labels[0], "confidence": 1.0}
                message.intent_ranking = [dict(message.intent)]
                continue
            z = self.scores(message) * inv_t
            z = np.exp(z - z.max())
            probs = (z / z.sum()).tolist()
            order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)[:n_rank]
            ranking = [{"name": labels[i], "confidence": probs[i]} for i in order]
            message.intent = dict(ranking[0])
            message.intent_ranking = ranking

    def persist(self, directory: Path) -> None:
        np.save(directory / "weights.npy", self.weights)
        np.save(directory / "bias.npy", self.bias)
        meta = {
            "labels": self.labels,
            "keys": self.keys,
            "dims": self.dims,
            "temperature": self.temperature,
        }
        (directory / "classifier.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        meta = json.loads((directory / "classifier.json").read_text())
        component.labels = meta["labels"]
        component.keys = meta["keys"]
        component.dims = meta["dims"]
        component.temperature = meta["temperature"]
        component.weights = np.load(directory / "weights.npy")
        component.bias = np.load(directory / "bias.npy")
        return component


@register
class NoveltyScaler(Component):
    """Scales the intent confidences down when the text is unlike anything in the training data,
    so the `FallbackClassifier` after it fires on gibberish, emoji and unrelated chatter.

    A linear classifier extrapolates: text that shares no feature with any example still gets
    a softmax over the biases (an emoji, lone punctuation or random letters came out as `affirm`
    or `greet` at 0.8-0.9). The novelty signal is the *coverage*: the share of the message's
    character n-grams (`min_ngram`..`max_ngram`, with `^`/`$` boundary marks, whitespace
    dropped, entity spans found so far replaced by one placeholder per entity type, digits kept
    as they are) that occur in some training example. Every confidence of the ranking is
    multiplied by `(coverage - min_coverage) / (full_coverage - min_coverage)`, clipped to
    [0, 1]: at or above `full_coverage` nothing changes. The top intent never changes, so
    intent accuracy is untouched; only the fallback rate moves.

    Measured on data/ (5-fold CV) and tests/fixtures/nlu_ood.yml, coverage separated in-domain
    from out-of-domain text better than the max cosine similarity to the training examples or
    the featurizers' own (digit-folded) n-gram coverage; see the commit that added it.
    """

    name = "NoveltyScaler"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        lo, hi = float(self.config["min_coverage"]), float(self.config["full_coverage"])
        if not 0.0 <= lo < hi <= 1.0:
            raise ConfigError(f"{self.name}: need 0 <= min_coverage < full_coverage <= 1")
        if not 1 <= int(self.config["min_ngram"]) <= int(self.config["max_ngram"]):
            raise ConfigError(f"{self.name}: need 1 <= min_ngram <= max_ngram")
        self.known: frozenset[str] = frozenset()
        self.placeholders: dict[str, str] = {}

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"min_ngram": 2, "max_ngram": 3, "min_coverage": 0.125, "full_coverage": 0.425}

    def _grams(self, message: Message) -> list[str]:
        text = message.norm.lower()
        if message.entities:
            generic = "\ue0ff"
            for entity in sorted(message.entities, key=lambda e: -e["start"]):
                mark = self.placeholders.get(entity["entity"], generic)
                text = text[: entity["start"]] + mark + text[entity["end"] :]
        text = "^" + "".join(text.split()) + "$"
        lo, hi = int(self.config["min_ngram"]), int(self.config["max_ngram"])
        size = len(text)
        return [text[i : i + n] for n in range(lo, hi + 1) for i in range(size - n + 1)]

    def coverage(self, message: Message) -> float:
        """The share of the message's character n-grams seen in training (0 to 1)."""
        grams = self._grams(message)
        if not grams:
            return 0.0
        known = self.known
        return sum(1 for g in grams if g in known) / len(grams)

    def factor(self, coverage: float) -> float:
        """The multiplier applied to the confidences for a given coverage."""
        lo, hi = float(self.config["min_coverage"]), float(self.config["full_coverage"])
        return min(1.0, max(0.0, (coverage - lo) / (hi - lo)))

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        names = sorted(
            {*data.entity_types, *data.regexes, *data.lookups}
            | {e["entity"] for m in messages for e in m.entities}
        )
        self.placeholders = {name: chr(0xE000 + i) for i, name in enumerate(names[:255])}
        self.known = frozenset(g for m in messages for g in self._grams(m))

    def process(self, messages: list[Message]) -> None:
        for message in messages:
            if not message.intent_ranking:
                continue
            factor = self.factor(self.coverage(message))
            if factor >= 1.0:
                continue
            ranking = [
                {**item, "confidence": item["confidence"] * factor}
                for item in message.intent_ranking
            ]
            message.intent_ranking = ranking
            message.intent = dict(ranking[0])

    def persist(self, directory: Path) -> None:
        state = {"placeholders": self.placeholders, "known": sorted(self.known)}
        (directory / "novelty.json").write_text(json.dumps(state, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        state = json.loads((directory / "novelty.json").read_text())
        component.placeholders = state["placeholders"]
        component.known = frozenset(state["known"])
        return component


@register
class FallbackClassifier(Component):
    """Replaces the intent by `nlu_fallback` when the top confidence is below `threshold`, or
    when the top two intents are closer than `ambiguity_threshold` (as Rasa's FallbackClassifier).
    The classifier's own ranking is kept under the fallback entry.
    """

    name = "FallbackClassifier"

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"threshold": 0.3, "ambiguity_threshold": 0.1}

    def process(self, messages: list[Message]) -> None:
        threshold = float(self.config["threshold"])
        ambiguity = float(self.config["ambiguity_threshold"])
        for message in messages:
            ranking = message.intent_ranking
            if not ranking:
                continue
            top = ranking[0]["confidence"]
            second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
            if top < threshold or top - second < ambiguity:
                message.intent = {"name": FALLBACK_INTENT, "confidence": threshold}
                message.intent_ranking = [dict(message.intent), *ranking]
