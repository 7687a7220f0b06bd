"""Rasa 3.x NLU training data: loading, validation with file/line/problem, merging.

Supported constructs (as in Rasa's `nlu:` section): `- intent:` blocks whose examples carry inline
entity annotations (`[2019年12月](tax_period)`, `[增值稅](tax_type:vat)`,
`[增值稅]{"entity": "tax_type", "value": "vat"}` and `[x][{...}, {...}]`), `- synonym:`,
`- regex:` and `- lookup:` blocks, and examples given either as a `|` block of `- ` lines or as a
list of `text:` items. Files without an `nlu:` key (domain, rules, case types, ...) are skipped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from nlu.errors import DataProblem, TrainingDataError

logger = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("2.0", "3.0", "3.1")
BLOCK_KINDS = ("intent", "synonym", "regex", "lookup")
ALLOWED_BLOCK_KEYS = frozenset({*BLOCK_KINDS, "examples", "metadata"})

# Rasa's annotation grammar: [text](entity), [text](entity:value), [text]{json}, [text][{json},..]
ENTITY_RE = re.compile(
    r"\[(?P<text>[^\]]*?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)"
    r"|\{(?P<dict>[^}]+?)\}"
    r"|\[(?P<list>\{.*?\})\])"
)
BROKEN_ANNOTATION_RE = re.compile(r"\][({\[]|\[[^\]]*\]\s*[({]")
ENTITY_NAME_RE = re.compile(r"^[A-Za-z_][\w.-]*$")


@dataclass(slots=True)
class EntityAnnotation:
    """A gold entity span of a training example; offsets index the plain example text."""

    entity: str
    start: int
    end: int
    text: str
    value: str
    explicit_value: bool = False
    role: str | None = None
    group: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "entity": self.entity,
            "start": self.start,
            "end": self.end,
            "value": self.value,
        }
        if self.role:
            data["role"] = self.role
        if self.group:
            data["group"] = self.group
        return data


@dataclass(slots=True)
class Example:
    """One intent example: plain text, its intent and its annotated entities."""

    text: str
    intent: str
    entities: list[EntityAnnotation] = field(default_factory=list)
    source: str = ""


@dataclass
class TrainingData:
    """Everything the `nlu:` sections of one or more files declare, merged."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        """Sorted intent names that have at least one example."""
        return sorted({e.intent for e in self.examples})

    @property
    def entity_types(self) -> list[str]:
        """Sorted entity types annotated in the examples."""
        return sorted({a.entity for e in self.examples for a in e.entities})

    def merge(self, other: TrainingData) -> None:
        """Add another file's content to this one (later files extend earlier ones)."""
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        for name, patterns in other.regexes.items():
            self.regexes.setdefault(name, []).extend(patterns)
        for name, items in other.lookups.items():
            self.lookups.setdefault(name, []).extend(items)
        self.files.extend(other.files)

    def subset(self, examples: list[Example]) -> TrainingData:
        """The same synonyms, regexes and lookups with another list of examples."""
        return TrainingData(
            examples=examples,
            synonyms=dict(self.synonyms),
            regexes={k: list(v) for k, v in self.regexes.items()},
            lookups={k: list(v) for k, v in self.lookups.items()},
            files=list(self.files),
        )

    def canonical(self) -> dict[str, Any]:
        """An order-stable, comment-free view used for the data fingerprint."""
        return {
            # Sorted by a total key: repeated texts with entities would otherwise compare
            # their entity dicts, which have no order.
            "examples": sorted(
                ((e.intent, e.text, [a.as_dict() for a in e.entities]) for e in self.examples),
                key=lambda ex: (ex[0], ex[1], json.dumps(ex[2], sort_keys=True)),
            ),
            "synonyms": sorted(self.synonyms.items()),
            "regexes": sorted((k, sorted(v)) for k, v in self.regexes.items()),
            "lookups": sorted((k, sorted(v)) for k, v in self.lookups.items()),
        }


def parse_annotated(
    text: str, warnings: list[str] | None = None
) -> tuple[str, list[EntityAnnotation], list[str]]:
    """Split an annotated example into plain text and entity spans.

    Returns `(plain_text, entities, problems)`; problems are messages without a location.
    Harmless oddities (an empty `[](entity)` span, which is dropped) go to `warnings`.
    """
    problems: list[str] = []
    entities: list[EntityAnnotation] = []
    plain: list[str] = []
    pos = 0
    offset = 0
    for match in ENTITY_RE.finditer(text):
        before = text[pos : match.start()]
        plain.append(before)
        offset += len(before)
        span_text = match.group("text")
        if not span_text:
            if warnings is not None:
                warnings.append(f"empty entity annotation {match.group(0)!r} ignored")
            pos = match.end()
            continue
        start, end = offset, offset + len(span_text)
        specs: list[dict[str, Any]] = []
        if match.group("entity") is not None:
            spec: dict[str, Any] = {"entity": match.group("entity").strip()}
            if match.group("value") is not None:
                spec["value"] = match.group("value").strip()
            specs.append(spec)
        else:
            raw = "{" + match.group("dict") + "}" if match.group("dict") else None
            raw = raw or "[" + (match.group("list") or "") + "]"
            try:
                loaded = json.loads(raw)
            except json.JSONDecodeError as exc:
                problems.append(f"entity annotation {raw!r} is not valid JSON ({exc.msg})")
                loaded = []
            for item in loaded if isinstance(loaded, list) else [loaded]:
                if not isinstance(item, dict) or not isinstance(item.get("entity"), str):
                    problems.append(f"entity annotation {raw!r} needs an 'entity' name")
                    continue
                specs.append(item)
        for spec in specs:
            name = spec["entity"]
            if not ENTITY_NAME_RE.match(name):
                problems.append(f"invalid entity name {name!r} in annotation of {span_text!r}")
                continue
            value = spec.get("value")
            entities.append(
                EntityAnnotation(
                    entity=name,
                    start=start,
                    end=end,
                    text=span_text,
                    value=str(value) if value is not None else span_text,
                    explicit_value=value is not None,
                    role=spec.get("role"),
                    group=None if spec.get("group") is None else str(spec.get("group")),
                )
            )
        plain.append(span_text)
        offset = end
        pos = match.end()
    plain.append(text[pos:])
    plain_text = "".join(plain)
    rest = ENTITY_RE.sub("", text)
    if BROKEN_ANNOTATION_RE.search(rest):
        problems.append(f"malformed entity annotation in {text!r} (expected [text](entity))")
    return plain_text, entities, problems


class _FileParser:
    """Walks one file's YAML node tree, collecting data and located problems."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[DataProblem] = []
        self.data = TrainingData(files=[path])

    def error(self, node: Node | None, problem: str, line: int | None = None) -> None:
        where = line if line is not None else (node.start_mark.line + 1 if node else 1)
        self.problems.append(DataProblem(self.path, where, problem))

    def parse(self, root: Node) -> None:
        if not isinstance(root, MappingNode):
            self.error(root, "the file must be a mapping with `version` and `nlu` keys")
            return
        top = _mapping(root)
        version = top.get("version")
        if version is None:
            logger.warning('%s: no `version` key; assuming "3.1"', self.path)
        elif not (
            isinstance(version[1], ScalarNode)
            and version[1].style in ('"', "'")
            and version[1].value in SUPPORTED_VERSIONS
        ):
            self.error(
                version[1],
                f"version must be a quoted string, one of {', '.join(SUPPORTED_VERSIONS)} "
                f'(e.g. version: "3.1")',
            )
        nlu_node = top["nlu"][1]
        if isinstance(nlu_node, ScalarNode) and nlu_node.value in ("", "null", "~"):
            return
        if not isinstance(nlu_node, SequenceNode):
            self.error(nlu_node, "`nlu` must be a list of intent/synonym/regex/lookup blocks")
            return
        for block in nlu_node.value:
            self.parse_block(block)

    def parse_block(self, block: Node) -> None:
        if not isinstance(block, MappingNode):
            self.error(block, "each `nlu` item must be a mapping such as `- intent: greet`")
            return
        keys: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in block.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else str(key_node)
            if key in keys:
                self.error(key_node, f"duplicate key `{key}` in one block")
            if key not in ALLOWED_BLOCK_KEYS:
                hint = " (did you mean `examples`?)" if key.startswith("ex") else ""
                self.error(key_node, f"unknown key `{key}`{hint}")
            keys[key] = (key_node, value_node)
        kinds = [k for k in BLOCK_KINDS if k in keys]
        if len(kinds) != 1:
            self.error(
                block, "a block needs exactly one of `intent`, `synonym`, `regex`, `lookup`"
            )
            return
        kind = kinds[0]
        name_node = keys[kind][1]
        name = name_node.value.strip() if isinstance(name_node, ScalarNode) else ""
        if not name:
            self.error(name_node, f"`{kind}` needs a name")
            return
        if "examples" not in keys:
            self.error(block, f"{kind} `{name}` has no `examples`")
            return
        items = list(self.example_lines(keys["examples"][1], f"{kind} `{name}`"))
        if not items:
            self.error(keys["examples"][1], f"{kind} `{name}` has no examples")
        if kind == "intent":
            for line, text in items:
                warnings: list[str] = []
                plain, entities, problems = parse_annotated(text, warnings)
                for problem in problems:
                    self.error(None, problem, line)
                for warning in warnings:
                    logger.warning("%s:%d: %s", self.path, line, warning)
                if not plain.strip():
                    self.error(None, f"empty example in intent `{name}`", line)
                    continue
                self.data.examples.append(Example(plain, name, entities, f"{self.path}:{line}"))
                for ent in entities:
                    if ent.explicit_value and ent.value != ent.text:
                        self.data.synonyms[ent.text.lower()] = ent.value
        elif kind == "synonym":
            for _, text in items:
                self.data.synonyms[text.lower()] = name
        elif kind == "regex":
            for line, text in items:
                try:
                    re.compile(text)
                except re.error as exc:
                    self.error(None, f"regex `{name}`: invalid pattern {text!r} ({exc})", line)
                    continue
                self.data.regexes.setdefault(name, []).append(text)
        else:
            self.data.lookups.setdefault(name, []).extend(text for _, text in items)

    def example_lines(self, node: Node, owner: str) -> Iterator[tuple[int, str]]:
        if isinstance(node, ScalarNode):
            first = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
            for index, raw in enumerate(node.value.split("\n")):
                line = first + index if node.style in ("|", ">") else node.start_mark.line + 1
                stripped = raw.strip()
                if not stripped:
                    continue
                if not stripped.startswith("- ") and stripped != "-":
                    self.error(None, f"{owner}: example must start with '- ': {stripped!r}", line)
                    continue
                text = stripped[1:].strip()
                if not text:
                    self.error(None, f"{owner}: empty example", line)
                    continue
                yield line, text
        elif isinstance(node, SequenceNode):
            for item in node.value:
                text_node: Node | None = item if isinstance(item, ScalarNode) else None
                if isinstance(item, MappingNode):
                    text_node = _mapping(item).get("text", (None, None))[1]
                if not isinstance(text_node, ScalarNode) or not text_node.value.strip():
                    self.error(item, f"{owner}: list examples need a `text:` string")
                    continue
                yield text_node.start_mark.line + 1, text_node.value.strip()
        else:
            self.error(node, f"{owner}: `examples` must be a `|` block of '- ' lines")


def _mapping(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    return {k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)}


def parse_training_text(text: str, path: Path) -> tuple[TrainingData | None, list[DataProblem]]:
    """Parse one file's text. Returns `(None, [])` when it holds no `nlu:` section."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        if not re.search(r"^nlu\s*:", text, re.MULTILINE):
            logger.warning("%s: not valid YAML and no `nlu:` key; skipped", path)
            return None, []
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        return None, [DataProblem(path, line, f"YAML syntax error: {detail}")]
    if root is None or not isinstance(root, MappingNode) or "nlu" not in _mapping(root):
        return None, []
    parser = _FileParser(path)
    parser.parse(root)
    return parser.data, parser.problems


def iter_data_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Expand directories to their `.yml`/`.yaml` files (sorted), keep files as given."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()
            )
        else:
            yield path


def load_training_data(paths: Iterable[Path | str]) -> TrainingData:
    """Load and merge the NLU data of the given files and directories.

    Raises `TrainingDataError` listing every problem (file, line, problem) when any file is
    invalid or no NLU data is found; never lets a YAML traceback escape.
    """
    merged = TrainingData()
    problems: list[DataProblem] = []
    given = [Path(p) for p in paths]
    for path in iter_data_files(given):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(DataProblem(path, 0, "file not found"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(DataProblem(path, 0, f"cannot read file ({exc})"))
            continue
        data, file_problems = parse_training_text(text, path)
        problems.extend(file_problems)
        if data is not None:
            merged.merge(data)
    if not problems and not merged.examples:
        where = ", ".join(str(p) for p in given) or "(nothing)"
        problems.append(
            DataProblem(given[0] if given else Path("."), 0, f"no NLU examples found in {where}")
        )
    if problems:
        raise TrainingDataError(problems)
    _check_consistency(merged)
    return merged


def _check_consistency(data: TrainingData) -> None:
    seen: dict[str, Example] = {}
    for example in data.examples:
        other = seen.get(example.text)
        if other is not None and other.intent != example.intent:
            logger.warning(
                "%s: example %r is also labelled `%s` at %s",
                example.source,
                example.text,
                other.intent,
                other.source,
            )
        seen.setdefault(example.text, example)
    entity_types = set(data.entity_types)
    for name in data.regexes:
        if name not in entity_types:
            logger.debug("regex `%s` names no annotated entity; used as a feature only", name)


def training_data_to_yaml(examples: Iterable[Example]) -> str:
    """Write examples back in Rasa format (used by tests and cross-validation reports)."""
    by_intent: dict[str, list[str]] = {}
    for ex in examples:
        text = ex.text
        for ent in sorted(ex.entities, key=lambda a: a.start, reverse=True):
            spec = {"entity": ent.entity}
            if ent.explicit_value:
                spec["value"] = ent.value
            ann = f"[{ent.text}]" + json.dumps(spec, ensure_ascii=False)
            text = text[: ent.start] + ann + text[ent.end :]
        by_intent.setdefault(ex.intent, []).append(text)
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {t}" for t in texts)
    return "\n".join(lines) + "\n"
