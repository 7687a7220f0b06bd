"""Entity extraction (regex/lookup, character CRF), synonym mapping and value normalisation."""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Any, Self

from nlu.components.base import Component, register
from nlu.components.text import TextConverter
from nlu.message import Message
from nlu.normalizers import normalize_entities
from nlu.training_data import TrainingData


def _compile_patterns(
    data: TrainingData,
    converter: TextConverter,
    names: set[str] | None,
    regexes: bool,
    lookups: bool,
) -> dict[str, list[str]]:
    """`name -> [pattern]` from the data's regexes and (escaped, longest first) lookups."""
    out: dict[str, list[str]] = {}
    if regexes:
        for name, patterns in data.regexes.items():
            if names is None or name in names:
                out.setdefault(name, []).extend(patterns)
    if lookups:
        for name, items in data.lookups.items():
            if names is None or name in names:
                words = sorted(
                    {converter.convert(w).lower() for w in items}, key=len, reverse=True
                )
                if words:
                    out.setdefault(name, []).append("|".join(re.escape(w) for w in words))
    return out


def _build_regexes(patterns: dict[str, list[str]]) -> list[tuple[str, re.Pattern[str]]]:
    return [
        (name, re.compile("|".join(f"(?:{p})" for p in items), re.IGNORECASE))
        for name, items in sorted(patterns.items())
    ]


def _find_spans(
    regexes: list[tuple[str, re.Pattern[str]]], text: str
) -> list[tuple[int, int, str]]:
    """Non-overlapping matches of all patterns, longest first on conflicts."""
    found: list[tuple[int, int, str]] = []
    for name, regex in regexes:
        for match in regex.finditer(text):
            if match.end() > match.start():
                found.append((match.start(), match.end(), name))
    if len(found) < 2:
        return found
    found.sort(key=lambda s: (s[0], s[0] - s[1]))
    kept: list[tuple[int, int, str]] = []
    for span in found:
        if kept and span[0] < kept[-1][1]:
            if span[1] - span[0] > kept[-1][1] - kept[-1][0]:
                kept[-1] = span
            continue
        kept.append(span)
    return kept


@register
class RegexEntityExtractor(Component):
    """Entities from the data's `- regex:` and `- lookup:` blocks whose name is an annotated
    entity type (as in Rasa). Matches run on the Simplified text; offsets fit the original."""

    name = "RegexEntityExtractor"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.patterns: dict[str, list[str]] = {}
        self.regexes: list[tuple[str, re.Pattern[str]]] = []

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"use_regexes": True, "use_lookup_tables": True}

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        self.patterns = _compile_patterns(
            data,
            TextConverter(),
            set(data.entity_types),
            self.config["use_regexes"],
            self.config["use_lookup_tables"],
        )
        self.regexes = _build_regexes(self.patterns)

    def process(self, messages: list[Message]) -> None:
        if not self.regexes:
            return
        for message in messages:
            norm = message.norm
            for start, end, name in _find_spans(self.regexes, norm):
                message.entities.append(
                    {
                        "entity": name,
                        "start": start,
                        "end": end,
                        "value": norm[start:end],
                        "extractor": self.name,
                    }
                )

    def persist(self, directory: Path) -> None:
        (directory / "patterns.json").write_text(json.dumps(self.patterns, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        component.patterns = json.loads((directory / "patterns.json").read_text())
        component.regexes = _build_regexes(component.patterns)
        return component


def _char_class(ch: str) -> str:
    if ch.isdigit():
        return "d"
    if "a" <= ch <= "z" or "A" <= ch <= "Z":
        return "a"
    if "\u4e00" <= ch <= "\u9fff":
        return "h"
    if ch.isspace():
        return "s"
    return "p"


def _seed_libc_rand() -> None:
    """crfsuite's averaged perceptron shuffles the examples with the C library's `rand()`,
    which nothing seeds: each training in a process went on from the previous one's sequence,
    so the same data gave another model the second time (a studio retraining in one process,
    a benchmark training several models). Seeding it makes a training depend on its data only.
    Two trainings running at once in one process still share the sequence."""
    try:
        ctypes.CDLL(None).srand(1)
    except (OSError, AttributeError):  # no C library to reach (not on Linux or macOS)
        pass


@register
class CRFEntityExtractor(Component):
    """A linear-chain CRF (python-crfsuite) over characters, BIO tags.

    Characters, not words: Chinese entity spans often cut through jieba tokens. Features per
    character: the characters, bigrams and trigrams in a ±2 window, character classes, the
    jieba word around it with its B/I/E/S position, and B/I/E/S membership in each lookup/regex.
    Spans that overlap an entity found by an earlier extractor (regexes) are dropped.
    Trained by default with the averaged perceptron (`algorithm: ap`): on CAIS it scores as
    well as L-BFGS (slot F1 88 vs 87.5) in a fifth of the time; `lbfgs` with `c1`/`c2` works too.
    """

    name = "CRFEntityExtractor"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.tagger: Any = None
        self.patterns: dict[str, list[str]] = {}
        self.regexes: list[tuple[str, re.Pattern[str]]] = []
        self._tmp: Path | None = None
        self._model_path: Path | None = None
        self._lock = threading.Lock()  # a crfsuite Tagger holds the sequence it tags

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {
            "algorithm": "ap",
            "max_iterations": 10,
            "c1": 0.05,
            "c2": 0.01,
            "use_lookups": True,
            "word_features": True,
        }

    def features(self, message: Message) -> list[list[str]]:
        """The CRF feature strings of each character of the message."""
        text = message.norm.lower()
        n = len(text)
        pad = "\x02\x02" + text + "\x03\x03"
        classes = "ss" + "".join(_char_class(c) for c in text) + "ss"
        word_pos = ["O"] * n
        word_of = [""] * n
        if self.config["word_features"]:
            for word, start, end in message.tokens:
                if end - start == 1:
                    word_pos[start] = "S"
                else:
                    word_pos[start] = "B"
                    for i in range(start + 1, end - 1):
                        word_pos[i] = "I"
                    word_pos[end - 1] = "E"
                for i in range(start, end):
                    word_of[i] = word
        lookup_tags: list[list[str]] = [[] for _ in range(n)]
        for start, end, name in _find_spans(self.regexes, message.norm) if self.regexes else ():
            if end - start == 1:
                lookup_tags[start].append(f"L:{name}:S")
                continue
            lookup_tags[start].append(f"L:{name}:B")
            for i in range(start + 1, end - 1):
                lookup_tags[i].append(f"L:{name}:I")
            lookup_tags[end - 1].append(f"L:{name}:E")
        out = []
        for i in range(n):
            j = i + 2
            wp = word_pos[i]
            feats = [
                "bias",
                "c0=" + pad[j],
                "c-1=" + pad[j - 1],
                "c1=" + pad[j + 1],
                "c-2=" + pad[j - 2],
                "c2=" + pad[j + 2],
                "b-2=" + pad[j - 2 : j],
                "b-1=" + pad[j - 1 : j + 1],
                "b0=" + pad[j : j + 2],
                "b1=" + pad[j + 1 : j + 3],
                "t-2=" + pad[j - 2 : j + 1],
                "t-1=" + pad[j - 1 : j + 2],
                "t0=" + pad[j : j + 3],
                "k=" + classes[j - 1 : j + 2],
                "wp=" + wp,
                "wpc=" + wp + pad[j],
                "w=" + word_of[i],
                "wpp="
                + (word_pos[i - 1] if i else "^")
                + wp
                + (word_pos[i + 1] if i + 1 < n else "$"),
            ]
            if lookup_tags[i]:
                feats.extend(lookup_tags[i])
            out.append(feats)
        return out

    @staticmethod
    def bio_tags(message: Message) -> list[str]:
        """Gold BIO tags of a training message (first annotation wins on overlaps)."""
        tags = ["O"] * len(message.text)
        if message.gold is None:
            return tags
        for ent in sorted(message.gold.entities, key=lambda e: (e.start, -e.end)):
            if any(t != "O" for t in tags[ent.start : ent.end]):
                continue
            tags[ent.start] = "B-" + ent.entity
            for i in range(ent.start + 1, ent.end):
                tags[i] = "I-" + ent.entity
        return tags

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        import pycrfsuite

        if self.config["use_lookups"]:
            self.patterns = _compile_patterns(data, TextConverter(), None, True, True)
            self.regexes = _build_regexes(self.patterns)
        trainer = pycrfsuite.Trainer(algorithm=self.config["algorithm"], verbose=False)
        params: dict[str, Any] = {"max_iterations": int(self.config["max_iterations"])}
        if self.config["algorithm"] == "lbfgs":
            params.update(c1=float(self.config["c1"]), c2=float(self.config["c2"]))
        trainer.set_params(params)
        has_entities = False
        for message in messages:
            tags = self.bio_tags(message)
            has_entities = has_entities or any(t != "O" for t in tags)
            if message.text:
                trainer.append(self.features(message), tags)
        if not has_entities:
            self.tagger = None
            return
        self._tmp = Path(tempfile.mkdtemp(prefix="taxdesk-crf-"))
        model_path = self._tmp / "crf.model"
        _seed_libc_rand()
        trainer.train(str(model_path))
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(model_path))
        self._model_path = model_path

    def __del__(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def process(self, messages: list[Message]) -> None:
        tagger = self.tagger
        if tagger is None:
            return
        for message in messages:
            if not message.text:
                continue
            features = self.features(message)
            with self._lock:
                tagger.set(features)
                tags = tagger.tag()
                spans = [
                    (
                        start,
                        end,
                        label,
                        min(tagger.marginal(tags[i], i) for i in range(start, end)),
                    )
                    for start, end, label in _decode(tags)
                ]
            taken = [(e["start"], e["end"]) for e in message.entities]
            norm = message.norm
            for start, end, label, confidence in spans:
                if any(s < end and start < e for s, e in taken):
                    continue
                message.entities.append(
                    {
                        "entity": label,
                        "start": start,
                        "end": end,
                        "value": norm[start:end],
                        "extractor": self.name,
                        "confidence": round(confidence, 6),
                    }
                )

    def persist(self, directory: Path) -> None:
        (directory / "patterns.json").write_text(json.dumps(self.patterns, ensure_ascii=False))
        if self.tagger is not None and self._model_path is not None:
            shutil.copyfile(self._model_path, directory / "crf.model")

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        import pycrfsuite

        component = cls(config)
        component.patterns = json.loads((directory / "patterns.json").read_text())
        component.regexes = _build_regexes(component.patterns)
        model_path = directory / "crf.model"
        if model_path.exists():
            component.tagger = pycrfsuite.Tagger()
            component.tagger.open(str(model_path))
            component._model_path = model_path
        return component


def _decode(tags: list[str]) -> list[tuple[int, int, str]]:
    """BIO tags → `(start, end, label)` spans; a stray `I-` starts a new span."""
    spans = []
    start, label = -1, ""
    for i, tag in enumerate(tags):
        if tag == "O" or tag.startswith("B-") or (tag[2:] != label):
            if label:
                spans.append((start, i, label))
            start, label = (i, tag[2:]) if tag != "O" else (-1, "")
    if label:
        spans.append((start, len(tags), label))
    return spans


@register
class EntitySynonymMapper(Component):
    """Replaces an entity's value by its canonical form from `- synonym:` blocks and annotated
    values (`[增值稅](tax_type:vat)`); matching ignores script and case."""

    name = "EntitySynonymMapper"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.synonyms: dict[str, str] = {}

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        converter = TextConverter()
        self.synonyms = {converter.convert(k).lower(): v for k, v in data.synonyms.items()}

    def process(self, messages: list[Message]) -> None:
        synonyms = self.synonyms
        for message in messages:
            for entity in message.entities:
                value = entity["value"]
                canonical = synonyms.get(value.lower()) if isinstance(value, str) else None
                if canonical is not None and canonical != value:
                    entity["value"] = canonical
                    entity.setdefault("processors", []).append(self.name)

    def persist(self, directory: Path) -> None:
        (directory / "synonyms.json").write_text(json.dumps(self.synonyms, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        component.synonyms = json.loads((directory / "synonyms.json").read_text())
        return component


@register
class TaxEntityNormalizer(Component):
    """Normal forms of PRODUCT.md: tax_period (relative dates against the parse date),
    taxpayer_id (credit code or resident ID, `taxrules.ids`), tax_type keys, amounts in yuan."""

    name = "TaxEntityNormalizer"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.tax_synonyms: dict[str, str] = {}
        self.known_tax_types: set[str] = set()

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {
            "entities": {
                "tax_period": "tax_period",
                "taxpayer_id": "taxpayer_id",
                "tax_type": "tax_type",
                "amount": "amount",
            }
        }

    def train(self, data: TrainingData, messages: list[Message]) -> None:
        converter = TextConverter()
        tax_entities = {e for e, k in self.config["entities"].items() if k == "tax_type"}
        self.known_tax_types = {
            a.value
            for ex in data.examples
            for a in ex.entities
            if a.entity in tax_entities and a.explicit_value
        }
        lookup_words = {w for name in tax_entities for w in data.lookups.get(name, [])}
        self.tax_synonyms = {}
        for key, value in data.synonyms.items():
            if value in self.known_tax_types or key in lookup_words:
                self.tax_synonyms[converter.convert(key).lower()] = value
        self.known_tax_types.update(self.tax_synonyms.values())

    def process(self, messages: list[Message]) -> None:
        kinds = self.config["entities"]
        for message in messages:
            # also without entities: an ID written in groups is found in the text itself,
            # whether or not an extractor marked a piece of it
            normalize_entities(
                message.entities,
                message.norm,
                message.today or date.today(),
                kinds,
                self.tax_synonyms,
                self.known_tax_types,
            )

    def persist(self, directory: Path) -> None:
        state = {"tax_synonyms": self.tax_synonyms, "known": sorted(self.known_tax_types)}
        (directory / "normalizer.json").write_text(json.dumps(state, ensure_ascii=False))

    @classmethod
    def load(cls, config: dict[str, Any], directory: Path) -> Self:
        component = cls(config)
        state = json.loads((directory / "normalizer.json").read_text())
        component.tax_synonyms = state["tax_synonyms"]
        component.known_tax_types = set(state["known"])
        return component
