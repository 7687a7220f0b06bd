"""Sparse bag-of-n-grams featurizers (TF-IDF) over jieba words or characters.

Training uses plain Python counting; inference is a few dict look-ups and one small numpy
vector, so no scikit-learn import is needed to parse.
"""

from __future__ import annotations

import functools
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

_DIGITS = str.maketrans("0123456789", "0000000000")
_UNKNOWN_PLACEHOLDER = "\ue0ff"


@functools.cache
def _pinyin_items() -> tuple[tuple[str, str], ...]:
    from pypinyin import Style, lazy_pinyin

    return tuple(
        (chr(cp), lazy_pinyin(chr(cp), style=Style.NORMAL)[0]) for cp in range(0x4E00, 0xA000)
    )


def pinyin_table() -> dict[str, str]:
    """Toneless pinyin of every CJK unified ideograph (built at training, stored in models;
    computed once per process, a new dict each call)."""
    return dict(_pinyin_items())


@register
class CountVectorsFeaturizer(Component):
    """TF-IDF weighted n-grams (options as Rasa's CountVectorsFeaturizer).

    `analyzer: word` uses the tokenizer's words; `analyzer: char` the normalised text with
    `^`/`$` boundary marks; `analyzer: pinyin` toneless pinyin syllables, so homophone typos
    (蟹蟹/谢谢, 跟正/更正) share features. With `entity_placeholders`, spans already found by an
    extractor placed before this featurizer (e.g. a taxpayer id from a regex) count as one
    placeholder for their type instead of their random characters; `fold_digits` maps every
    digit to 0. Each message gets one L2-normalised sparse block.
    """

    name = "CountVectorsFeaturizer"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if self.config["analyzer"] not in ("word", "char", "pinyin"):
            raise ConfigError(f"{self.name}: analyzer must be `word`, `char` or `pinyin`")
        self.vocabulary: dict[str, int] = {}
        self.placeholders: dict[str, str] = {}
        self.pinyin: dict[str, str] = {}
        self.idf = np.zeros(0)
        self._idf: list[float] = []
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
            "entity_placeholders": True,
            "fold_digits": True,
        }

    def _text(self, message: Message) -> str:
        text = message.norm.lower()
        if self.config["entity_placeholders"] and message.entities:
            for entity in sorted(message.entities, key=lambda e: -e["start"]):
                mark = self.placeholders.get(entity["entity"], _UNKNOWN_PLACEHOLDER)
                text = text[: entity["start"]] + mark + text[entity["end"] :]
        if self.config["fold_digits"]:
            text = text.translate(_DIGITS)
        return text

    def _words(self, message: Message) -> list[str]:
        fold = self.config["fold_digits"]
        if not (self.config["entity_placeholders"] and message.entities):
            return [w.translate(_DIGITS) if fold else w for w, _, _ in message.tokens]
        spans = [(e["start"], e["end"], e["entity"]) for e in message.entities]
        words: list[str] = []
        last: tuple[int, int, str] | None = None
        for word, start, end in message.tokens:
            hit = next((s for s in spans if s[0] < end and start < s[1]), None)
            if hit is not None:
                if hit is not last:
                    words.append("<" + hit[2] + ">")
                last = hit
                continue
            last = None
            words.append(word.translate(_DIGITS) if fold else word)
        return words

    def _ngrams(self, message: Message) -> list[str]:
        lo, hi = self.config["min_ngram"], self.config["max_ngram"]
        analyzer = self.config["analyzer"]
        if analyzer == "char":
            text = "^" + self._text(message) + "$"
            n_chars = len(text)
            return [text[i : i + n] for n in range(lo, hi + 1) for i in range(n_chars - n + 1)]
        if analyzer == "pinyin":
            table = self.pinyin
            words = ["^", *(table.get(c, c) for c in self._text(message) if not c.isspace()), "$"]
        else:
            words = self._words(message)
        out = []
        for n in range(lo, hi + 1):
            if n == 1:
                out.extend(words)
            else:
                out.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return out

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        names = sorted(
            {*data.entity_types, *data.regexes, *data.lookups}
            | {e["entity"] for m in messages for e in m.entities}
        )
        self.placeholders = {name: chr(0xE000 + i) for i, name in enumerate(names[:255])}
        if self.config["analyzer"] == "pinyin":
            self.pinyin = pinyin_table()
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
        self._idf = self.idf.tolist()

    def process(self, messages: list[Message]) -> None:
        vocab = self.vocabulary
        idf = self._idf
        sublinear = self.config["sublinear_tf"]
        dim = len(vocab)
        log, sqrt = math.log, math.sqrt
        for message in messages:
            counts: dict[int, int] = {}
            for gram in self._ngrams(message):
                index = vocab.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if sublinear:
                values = [(1.0 + log(c)) * idf[i] for i, c in counts.items()]
            else:
                values = [c * idf[i] for i, c in counts.items()]
            if values:
                norm = sqrt(sum(v * v for v in values))
                values = [v / norm for v in values]
            message.sparse.append((self.key, list(counts), values, dim))

    def persist(self, directory: Path) -> None:
        grams = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        (directory / "vocabulary.json").write_text(json.dumps(grams, ensure_ascii=False))
        np.save(directory / "idf.npy", self.idf)
        state = {"placeholders": self.placeholders, "pinyin": self.pinyin}
        (directory / "featurizer.json").write_text(json.dumps(state, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        grams = json.loads((directory / "vocabulary.json").read_text())
        component.vocabulary = {g: i for i, g in enumerate(grams)}
        component.idf = np.load(directory / "idf.npy")
        component._idf = component.idf.tolist()
        state = json.loads((directory / "featurizer.json").read_text())
        component.placeholders = state["placeholders"]
        component.pinyin = state["pinyin"]
        return component


@register
class EntityFeaturizer(Component):
    """One sparse feature per entity type found by the extractors placed before it (e.g. a
    `song_name` from the CRF helps `PlayMusic`), scaled by `weight`."""

    name = "EntityFeaturizer"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.types: dict[str, int] = {}

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"weight": 0.5}

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        names = {*data.entity_types, *data.regexes, *data.lookups}
        self.types = {name: i for i, name in enumerate(sorted(names))}

    def process(self, messages: list[Message]) -> None:
        weight = float(self.config["weight"])
        dim = len(self.types)
        for message in messages:
            found = sorted(
                {self.types[e["entity"]] for e in message.entities if e["entity"] in self.types}
            )
            values = [weight / math.sqrt(len(found))] * len(found) if found else []
            message.sparse.append(("EntityFeaturizer", found, values, dim))

    def persist(self, directory: Path) -> None:
        (directory / "types.json").write_text(json.dumps(self.types, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        component.types = json.loads((directory / "types.json").read_text())
        return component
