"""Text normalisation (Traditional → Simplified, full-width → ASCII) and jieba tokenisation."""

from __future__ import annotations

import functools
import marshal
from pathlib import Path
from typing import Any, Self

import jieba
import opencc

from nlu.components.base import Component, register
from nlu.message import Message
from nlu.training_data import TrainingData

# Full-width ASCII (U+FF01..U+FF5E) → ASCII, ideographic space → space: one char for one char.
_WIDTH_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class TextConverter:
    """Length-preserving Traditional→Simplified conversion, so offsets stay valid."""

    def __init__(self, config_name: str = "t2s", fold_width: bool = True) -> None:
        self._cc = opencc.OpenCC(config_name)
        self._fold_width = fold_width

    def convert(self, text: str) -> str:
        """Convert `text`; the result always has the same length as the input."""
        if self._fold_width:
            text = text.translate(_WIDTH_TABLE)
        out = self._cc.convert(text)
        if len(out) != len(text):  # a phrase rule changed the length: fall back to per char
            chars = []
            for ch in text:
                conv = self._cc.convert(ch)
                chars.append(conv if len(conv) == 1 else ch)
            out = "".join(chars)
        return out


@register
class OpenCCNormalizer(Component):
    """Writes the Simplified, width-folded text into `message.norm` (same length as `text`)."""

    name = "OpenCCNormalizer"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.converter = TextConverter(self.config["conversion"], self.config["fold_width"])

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"conversion": "t2s", "fold_width": True}

    def process(self, messages: list[Message]) -> None:
        convert = self.converter.convert
        for message in messages:
            message.norm = convert(message.text)


@functools.cache
def jieba_dictionary() -> tuple[tuple[str, int], ...]:
    """jieba's bundled dictionary as `(word, frequency)`, most frequent first (read once)."""
    entries: list[tuple[str, int]] = []
    with Path(jieba.__file__).with_name("dict.txt").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.split(" ")
            if len(parts) >= 2:
                entries.append((parts[0], int(parts[1])))
    entries.sort(key=lambda e: -e[1])
    return tuple(entries)


@register
class JiebaTokenizer(Component):
    """jieba word segmentation with the domain words (lookups, synonyms) in its dictionary.

    The dictionary (jieba's most frequent `dictionary_size` words plus the domain words) is built
    at training time and stored in the model, so loading needs no jieba cache and no
    first-parse initialisation; `dictionary_size: 0` keeps jieba's whole dictionary.
    """

    name = "JiebaTokenizer"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.tokenizer: jieba.Tokenizer | None = None
        self.user_words: list[str] = []

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"dictionary_size": 100000, "hmm": False, "lowercase": True, "domain_words": True}

    def _build(self, freq: dict[str, int], total: int, user_words: list[str]) -> None:
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ = freq
        tokenizer.total = total
        tokenizer.initialized = True
        for word in user_words:
            tokenizer.add_word(word)
        self.tokenizer = tokenizer

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        size = int(self.config["dictionary_size"])
        entries = jieba_dictionary()
        if size > 0:
            entries = entries[:size]
        freq: dict[str, int] = {}
        total = 0
        for word, count in entries:
            freq[word] = count
            total += count
            for i in range(1, len(word)):
                freq.setdefault(word[:i], 0)
        words: set[str] = set()
        if self.config["domain_words"]:
            converter = TextConverter()
            for items in data.lookups.values():
                words.update(converter.convert(w).lower() for w in items)
            words.update(converter.convert(w).lower() for w in data.synonyms)
        self.user_words = sorted(w for w in words if len(w) > 1 and " " not in w)
        self._build(freq, total, self.user_words)

    def process(self, messages: list[Message]) -> None:
        assert self.tokenizer is not None, "JiebaTokenizer used before train/load"
        cut = self.tokenizer.cut
        hmm = self.config["hmm"]
        lower = self.config["lowercase"]
        for message in messages:
            text = message.norm.lower() if lower else message.norm
            tokens = []
            pos = 0
            for word in cut(text, HMM=hmm):
                end = pos + len(word)
                if not word.isspace():
                    tokens.append((word, pos, end))
                pos = end
            message.tokens = tokens

    def persist(self, directory: Path) -> None:
        assert self.tokenizer is not None
        with (directory / "dictionary.marshal").open("wb") as handle:
            marshal.dump((self.tokenizer.FREQ, self.tokenizer.total, self.user_words), handle)

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        with (directory / "dictionary.marshal").open("rb") as handle:
            freq, total, user_words = marshal.load(handle)
        component.user_words = user_words
        component._build(freq, total, [])  # the stored dictionary already has the domain words
        return component
