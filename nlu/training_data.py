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
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from nlu.errors import DataProblem, NluError, TrainingDataError

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

    def content(self) -> dict[str, Any]:
        """What the data says, in order, without where it came from: two loads of the same
        data compare equal (`load(write(load(x))).content() == load(x).content()`)."""
        return {
            "examples": [
                (e.intent, e.text, [astuple(a) for a in e.entities]) for e in self.examples
            ],
            "synonyms": dict(self.synonyms),
            "regexes": {k: list(v) for k, v in self.regexes.items()},
            "lookups": {k: list(v) for k, v in self.lookups.items()},
        }

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
    return write_rasa_yaml(TrainingData(examples=list(examples)))


PLAIN_NAME_RE = re.compile(r"^[A-Za-z_][\w.-]*$")


def write_rasa_yaml(data: TrainingData) -> str:
    """The training data as one Rasa 3.x `nlu.yml` text; loading it gives the same data.

    Examples keep their order (a new `- intent:` block starts whenever the intent changes),
    with their entities annotated inline: `[text](entity)` when the value is the text, else
    `[text]{"entity": ..., "value": ...}` (with `role`/`group` when set), and `[text][{...},
    {...}]` for two annotations of one span. Synonyms that the annotations do not already
    imply, regexes and lookups follow as their own blocks. Block metadata and comments are not
    kept (the loader ignores them); loading adds the synonyms that annotations with a value
    imply, as Rasa does. The text is checked by loading it back: data that Rasa's
    format cannot hold (overlapping spans, a `[`/`]` next to an annotation, a value with a
    `}`) raises `UnwritableDataError` naming the example, rather than writing something else.
    """
    lines = ['version: "3.1"', "nlu:"]
    run: list[str] = []
    intent: str | None = None
    implied: dict[str, str] = {}
    for example in data.examples:
        if example.intent != intent:
            if intent is not None:
                lines.extend(_block("intent", intent, run))
            intent, run = example.intent, []
        run.append(annotate(example))
        for ent in example.entities:
            if ent.explicit_value and ent.value != ent.text:
                implied[ent.text.lower()] = ent.value
    if intent is not None:
        lines.extend(_block("intent", intent, run))
    by_value: dict[str, list[str]] = {}
    for text, value in data.synonyms.items():
        if implied.get(text) != value:
            by_value.setdefault(value, []).append(text)
    for value, texts in by_value.items():
        lines.extend(_block("synonym", value, texts))
    for name, patterns in data.regexes.items():
        lines.extend(_block("regex", name, patterns))
    for name, items in data.lookups.items():
        lines.extend(_block("lookup", name, items))
    text = "\n".join(lines) + "\n"
    _check_round_trip(data, text, implied)
    return text


def write_training_file(data: TrainingData, path: Path) -> None:
    """Write `write_rasa_yaml(data)` to `path` atomically (a reader sees the old or the new
    file, never half of one)."""
    text = write_rasa_yaml(data)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def annotate(example: Example) -> str:
    """The example's text with its entities written inline in Rasa's annotation syntax."""
    spans: dict[tuple[int, int], list[EntityAnnotation]] = {}
    for ent in example.entities:
        spans.setdefault((ent.start, ent.end), []).append(ent)
    out: list[str] = []
    pos = 0
    for (start, end), ents in sorted(spans.items()):
        if start < pos:
            raise UnwritableDataError(example, "entity spans overlap")
        out.append(example.text[pos:start])
        specs = [_spec(ent) for ent in ents]
        span = example.text[start:end]
        if len(specs) == 1 and set(specs[0]) == {"entity"}:
            out.append(f"[{span}]({specs[0]['entity']})")
        elif len(specs) == 1:
            out.append(f"[{span}]" + json.dumps(specs[0], ensure_ascii=False))
        else:
            out.append(f"[{span}][" + ", ".join(json.dumps(s, ensure_ascii=False) for s in specs))
            out[-1] += "]"
        pos = end
    out.append(example.text[pos:])
    return "".join(out)


def _spec(ent: EntityAnnotation) -> dict[str, str]:
    spec = {"entity": ent.entity}
    if ent.explicit_value:
        spec["value"] = ent.value
    if ent.role:
        spec["role"] = ent.role
    if ent.group:
        spec["group"] = ent.group
    return spec


def _scalar(value: str) -> str:
    """A YAML scalar for a block name: plain when safe, else a double-quoted string."""
    return value if PLAIN_NAME_RE.match(value) else json.dumps(value, ensure_ascii=False)


def _block(kind: str, name: str, items: list[str]) -> list[str]:
    lines = [f"- {kind}: {_scalar(name)}"]
    if all(_fits_block_line(item) for item in items):
        lines.append("  examples: |")
        lines.extend(f"    - {item}" for item in items)
    else:  # a line break or a character a `|` block cannot hold: a list of quoted strings
        lines.append("  examples:")
        lines.extend(f"  - text: {json.dumps(item, ensure_ascii=False)}" for item in items)
    return lines


def _fits_block_line(item: str) -> bool:
    return (
        item == item.strip()
        and item.isprintable()
        and not any(c in item for c in "\ufeff\u2028\u2029\x85")
    )


class UnwritableDataError(NluError):
    """Training data that Rasa's YAML format cannot express as it is."""

    def __init__(self, example: Example | None, reason: str) -> None:
        self.example = example
        what = f"例句 {example.text!r} (意图 {example.intent})" if example else "训练数据"
        super().__init__(f"{what} 无法写成 Rasa YAML：{reason} (cannot write as Rasa YAML)")


def _check_round_trip(data: TrainingData, text: str, implied: dict[str, str]) -> None:
    """Load `text` back and compare with `data`; loading adds the synonyms that annotations
    with a value imply (as Rasa does), which data built by hand may not list yet."""
    loaded, problems = parse_training_text(text, Path("<written>"))
    if problems or loaded is None:
        raise UnwritableDataError(None, "; ".join(str(p) for p in problems) or "no nlu data")
    for before, after in zip(data.examples, loaded.examples, strict=False):
        if (before.intent, before.text, before.entities) != (
            after.intent,
            after.text,
            after.entities,
        ):
            raise UnwritableDataError(before, f"it would load back as {annotate(after)!r}")
    expected = data.content()
    expected["synonyms"] = {**implied, **data.synonyms}
    if expected != loaded.content():
        raise UnwritableDataError(None, "synonyms, regexes, lookups or examples would change")
