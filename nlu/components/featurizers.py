"""Sparse bag-of-n-grams featurizers (TF-IDF) over jieba words or characters.

Training uses plain Python counting; inference is a few dict look-ups and one small numpy
vector, so no scikit-learn import is needed to parse.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Self

import numpy as np

from nlu.components.base import Component, register
from nlu.errors import ConfigError
from nlu.message import Message
from nlu.training_data import TrainingData


@register
class CountVectorsFeaturizer(Component):
    """TF-IDF weighted word or character n-grams (Rasa's CountVectorsFeaturizer options).

    `analyzer: word` uses the tokenizer's words; `analyzer: char` uses the normalised text with
    `^`/`$` boundary marks. Each message gets one L2-normalised sparse block.
    """

    name = "CountVectorsFeaturizer"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if self.config["analyzer"] not in ("word", "char"):
            raise ConfigError(f"{self.name}: analyzer must be `word` or `char`")
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0)
        self.key = f"{self.name}:{self.config['analyzer']}"

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {
            "analyzer": "word",
            "min_ngram": 1,
            "max_ngram": 2,
            "min_df": 1,
            "max_features": None,
            "sublinear_tf": True,
        }

    def _ngrams(self, message: Message) -> list[str]:
        lo, hi = self.config["min_ngram"], self.config["max_ngram"]
        if self.config["analyzer"] == "char":
            text = "^" + message.norm.lower() + "$"
            n_chars = len(text)
            return [text[i : i + n] for n in range(lo, hi + 1) for i in range(n_chars - n + 1)]
        words = [w for w, _, _ in message.tokens]
        out = []
        for n in range(lo, hi + 1):
            if n == 1:
                out.extend(words)
            else:
                out.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return out

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        df: Counter[str] = Counter()
        for message in messages:
            df.update(set(self._ngrams(message)))
        kept = [(g, c) for g, c in df.items() if c >= self.config["min_df"]]
        kept.sort(key=lambda gc: (-gc[1], gc[0]))
        if self.config["max_features"]:
            kept = kept[: int(self.config["max_features"])]
        kept.sort()
        self.vocabulary = {g: i for i, (g, _) in enumerate(kept)}
        n_docs = len(messages)
        self.idf = np.array(
            [math.log((1 + n_docs) / (1 + c)) + 1.0 for _, c in kept], dtype=np.float64
        )

    def process(self, messages: list[Message]) -> None:
        vocab = self.vocabulary
        sublinear = self.config["sublinear_tf"]
        dim = len(vocab)
        for message in messages:
            counts: dict[int, int] = {}
            for gram in self._ngrams(message):
                index = vocab.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                message.sparse.append((self.key, np.zeros(0, np.int64), np.zeros(0), dim))
                continue
            idx = np.fromiter(counts.keys(), np.int64, len(counts))
            tf = np.fromiter(counts.values(), np.float64, len(counts))
            if sublinear:
                tf = 1.0 + np.log(tf)
            values = tf * self.idf[idx]
            values /= math.sqrt(float(values @ values))
            message.sparse.append((self.key, idx, values, dim))

    def persist(self, directory: Path) -> None:
        grams = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        (directory / "vocabulary.json").write_text(json.dumps(grams, ensure_ascii=False))
        np.save(directory / "idf.npy", self.idf)

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        grams = json.loads((directory / "vocabulary.json").read_text())
        component.vocabulary = {g: i for i, g in enumerate(grams)}
        component.idf = np.load(directory / "idf.npy")
        return component
