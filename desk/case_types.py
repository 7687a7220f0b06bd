"""Case types, loaded from data (`data/case_types.yml`) and validated.

Admins add a case type by editing the YAML file; nothing in code lists them. Every validation
error is a `CaseTypesError` that names the file and the field
(`case_types.invoice.sla_working_days`).
Loading reads a small file once at start-up (call it before the event loop, or in a thread).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from desk.errors import CaseTypesError, UnknownCaseType
from taxrules.periods import PERIOD_KINDS

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
ACCEPT_KINDS = frozenset({"pdf", "image"})

#: Chinese labels of the slots the case types use (unknown slots are shown by key).
SLOT_LABELS: dict[str, str] = {
    "taxpayer_id": "纳税人识别号（统一社会信用代码或身份证号）",
    "tax_type": "税种",
    "tax_period": "所属期",
    "amount": "金额",
}


def slot_label(slot: str) -> str:
    """The Chinese label of a slot, for messages."""
    return SLOT_LABELS.get(slot, slot)


@dataclass(frozen=True, slots=True)
class Title:
    """A title in both scripts."""

    zh_hans: str
    zh_hant: str


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """One item of a case type's document checklist."""

    key: str
    title: Title
    required: bool
    multiple: bool
    accept: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PeriodRule:
    """Which tax periods a case type takes (`periods:` in case_types.yml): the kinds of a
    single period (`month`, `quarter`, `half`, `year`, see `taxrules.periods`) and whether
    a range of them (2023年至2025年) may be given, and whether a period still running may be
    (`running`: a certificate of the taxes paid so far this year; a return needs an ended one)."""

    kinds: tuple[str, ...] = PERIOD_KINDS
    ranges: bool = False
    running: bool = False


@dataclass(frozen=True, slots=True)
class CaseType:
    """A kind of request the office handles."""

    key: str
    title: Title
    intent: str
    slots: tuple[str, ...]
    documents: tuple[DocumentSpec, ...]
    sla_working_days: int
    periods: PeriodRule = PeriodRule()

    def document(self, key: str) -> DocumentSpec | None:
        """The checklist item with that key, if any."""
        return next((d for d in self.documents if d.key == key), None)

    @property
    def required_documents(self) -> tuple[DocumentSpec, ...]:
        """The checklist items that must be present at submit."""
        return tuple(d for d in self.documents if d.required)


class CaseTypeCatalog:
    """All case types, by key and by opening intent."""

    def __init__(self, types: Mapping[str, CaseType], source: str = "<memory>") -> None:
        self._types = dict(types)
        self._by_intent = {t.intent: t for t in self._types.values()}
        self.source = source

    def get(self, key: str) -> CaseType:
        """The case type `key`; raises `UnknownCaseType`."""
        try:
            return self._types[key]
        except KeyError:
            raise UnknownCaseType(key) from None

    def by_intent(self, intent: str) -> CaseType | None:
        """The case type opened by `intent`, if any."""
        return self._by_intent.get(intent)

    def __iter__(self) -> Iterator[CaseType]:
        return iter(self._types.values())

    def __contains__(self, key: object) -> bool:
        return key in self._types

    def __len__(self) -> int:
        return len(self._types)


def load_case_types(path: Path | str) -> CaseTypeCatalog:
    """Read and validate a case types file. Raises `CaseTypesError` (file + field)."""
    p = Path(path)
    name = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseTypesError(name, "(file)", f"cannot read: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CaseTypesError(name, "(yaml)", f"not valid YAML: {exc}") from exc
    return parse_case_types(raw, name)


def parse_case_types(raw: Any, name: str = "<memory>") -> CaseTypeCatalog:
    """Validate an already parsed document (see `load_case_types`)."""
    if not isinstance(raw, dict):
        raise CaseTypesError(name, "(root)", "must be a mapping with `version` and `case_types`")
    _no_extra(raw, {"version", "case_types"}, name, "(root)")
    if raw.get("version") != 1:
        raise CaseTypesError(name, "version", "must be 1")
    types = raw.get("case_types")
    if not isinstance(types, dict) or not types:
        raise CaseTypesError(name, "case_types", "must be a non-empty mapping")
    out: dict[str, CaseType] = {}
    intents: dict[str, str] = {}
    for key, body in types.items():
        field = f"case_types.{key}"
        if not isinstance(key, str) or not _KEY.match(key):
            raise CaseTypesError(name, field, "key must be lower_snake_case")
        ct = _parse_one(key, body, name, field)
        if ct.intent in intents:
            raise CaseTypesError(
                name, f"{field}.intent", f"intent {ct.intent!r} already opens {intents[ct.intent]}"
            )
        intents[ct.intent] = key
        out[key] = ct
    return CaseTypeCatalog(out, name)


def _no_extra(d: dict[str, Any], allowed: set[str], name: str, field: str) -> None:
    extra = sorted(str(k) for k in d if k not in allowed)
    if extra:
        raise CaseTypesError(name, f"{field}.{extra[0]}", "unknown field")


def _title(v: Any, name: str, field: str) -> Title:
    if not isinstance(v, dict):
        raise CaseTypesError(name, field, "must be {zh_hans: ..., zh_hant: ...}")
    _no_extra(v, {"zh_hans", "zh_hant"}, name, field)
    for script in ("zh_hans", "zh_hant"):
        if not isinstance(v.get(script), str) or not v[script].strip():
            raise CaseTypesError(name, f"{field}.{script}", "must be a non-empty string")
    return Title(v["zh_hans"].strip(), v["zh_hant"].strip())


def _str_list(v: Any, name: str, field: str, *, unique: bool = True) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise CaseTypesError(name, field, "must be a list of non-empty strings")
    if unique and len(set(v)) != len(v):
        raise CaseTypesError(name, field, "has duplicates")
    return tuple(x.strip() for x in v)


def _parse_one(key: str, body: Any, name: str, field: str) -> CaseType:
    if not isinstance(body, dict):
        raise CaseTypesError(name, field, "must be a mapping")
    _no_extra(
        body, {"title", "intent", "slots", "documents", "sla_working_days", "periods"}, name, field
    )
    title = _title(body.get("title"), name, f"{field}.title")
    intent = body.get("intent")
    if not isinstance(intent, str) or not _KEY.match(intent):
        raise CaseTypesError(name, f"{field}.intent", "must be an intent name (lower_snake_case)")
    slots = _str_list(body.get("slots"), name, f"{field}.slots")
    for i, s in enumerate(slots):
        if not _KEY.match(s):
            raise CaseTypesError(name, f"{field}.slots[{i}]", "must be lower_snake_case")
    sla = body.get("sla_working_days")
    if not isinstance(sla, int) or isinstance(sla, bool) or not 0 < sla <= 365:
        raise CaseTypesError(name, f"{field}.sla_working_days", "must be an integer 1..365")
    docs_raw = body.get("documents", [])
    if docs_raw is None:
        docs_raw = []
    if not isinstance(docs_raw, list):
        raise CaseTypesError(name, f"{field}.documents", "must be a list")
    docs: list[DocumentSpec] = []
    seen: set[str] = set()
    for i, d in enumerate(docs_raw):
        df = f"{field}.documents[{i}]"
        if not isinstance(d, dict):
            raise CaseTypesError(name, df, "must be a mapping")
        _no_extra(d, {"key", "title", "required", "multiple", "accept", "keywords"}, name, df)
        dkey = d.get("key")
        if not isinstance(dkey, str) or not _KEY.match(dkey):
            raise CaseTypesError(name, f"{df}.key", "must be lower_snake_case")
        if dkey in seen:
            raise CaseTypesError(name, f"{df}.key", f"duplicate document key {dkey!r}")
        seen.add(dkey)
        for flag in ("required", "multiple"):
            if flag in d and not isinstance(d[flag], bool):
                raise CaseTypesError(name, f"{df}.{flag}", "must be true or false")
        accept = _str_list(d.get("accept", ["pdf", "image"]), name, f"{df}.accept")
        bad = [a for a in accept if a not in ACCEPT_KINDS]
        if bad or not accept:
            raise CaseTypesError(
                name, f"{df}.accept", f"must be a non-empty subset of {sorted(ACCEPT_KINDS)}"
            )
        docs.append(
            DocumentSpec(
                key=dkey,
                title=_title(d.get("title"), name, f"{df}.title"),
                required=bool(d.get("required", False)),
                multiple=bool(d.get("multiple", False)),
                accept=accept,
                keywords=_str_list(d.get("keywords"), name, f"{df}.keywords", unique=False),
            )
        )
    periods = _periods(body.get("periods"), name, f"{field}.periods")
    return CaseType(key, title, intent, slots, tuple(docs), sla, periods)


def _periods(v: Any, name: str, field: str) -> PeriodRule:
    if v is None:
        return PeriodRule()
    if not isinstance(v, dict):
        raise CaseTypesError(name, field, "must be a mapping with kinds and ranges")
    _no_extra(v, {"kinds", "ranges", "running"}, name, field)
    kinds = _str_list(v.get("kinds", list(PERIOD_KINDS)), name, f"{field}.kinds")
    bad = [k for k in kinds if k not in PERIOD_KINDS]
    if bad or not kinds:
        raise CaseTypesError(
            name, f"{field}.kinds", f"must be a non-empty subset of {list(PERIOD_KINDS)}"
        )
    ranges = v.get("ranges", False)
    if not isinstance(ranges, bool):
        raise CaseTypesError(name, f"{field}.ranges", "must be true or false")
    running = v.get("running", False)
    if not isinstance(running, bool):
        raise CaseTypesError(name, f"{field}.running", "must be true or false")
    return PeriodRule(kinds=kinds, ranges=ranges, running=running)
