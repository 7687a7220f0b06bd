"""The dialogue domain: responses, slots and labels (`data/domain.yml`), case types
(`data/case_types.yml`, loaded and validated by `desk.case_types`, the same catalog the desk
uses; its errors name the file and the field), FAQ answers (`data/faq.yml`) and rules
(`data/rules.yml`).

The office's own facts (address, phone, transport, the template file: `data/office.yml`) fill
the placeholders of FAQ answers.

An FAQ intent needs no rule: an intent with answers in `faq.yml` and no rule of its own is
answered by `action_faq`, also during a form and beside another request (`Rule.implicit`), so an
admin teaches a new question with its examples and its answer alone.

`Domain.load` does plain file reads: call it before the event loop runs or through
`asyncio.to_thread`. Running processes follow edits of these files without a restart
(`actions.live.LiveDomain`, which swaps the engine's domain between turns).

Responses are written in Simplified Chinese; the engine converts replies to Traditional when the
taxpayer writes Traditional, and then puts back the Traditional titles of case types and
documents as written in the data (`traditional_titles`).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actions.channel import Button
from desk.case_types import CaseType, CaseTypeCatalog, DocumentSpec, Title, load_case_types

#: The files `Domain.load` reads from the data directory (`faq.yml`, `office.yml` optional).
DOMAIN_FILES = ("domain.yml", "case_types.yml", "rules.yml", "faq.yml", "office.yml")


class DomainError(Exception):
    """The dialogue data files are missing or malformed (case types raise
    `desk.errors.CaseTypesError`, which names the file and the field)."""


__all__ = [
    "CaseType",
    "DocumentSpec",
    "Domain",
    "DomainError",
    "FaqAnswer",
    "Rule",
    "Title",
    "render_template",
]


@dataclass(frozen=True, slots=True)
class FaqAnswer:
    """One answer of an FAQ intent; `keywords` pick it (empty = the default answer);
    `case_type` names the case type a documents question is about."""

    text: str
    keywords: tuple[str, ...] = ()
    source: str | None = None
    date: str | None = None
    case_type: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """`intent` → `action`, from `data/rules.yml` (the one table of them). The rule's
    `metadata` says when it applies besides "outside a form" (see `actions.policy`)."""

    name: str
    intent: str
    action: str
    anytime: bool = False  # in any state: before a waiting question, files and the form
    interrupts_form: bool = False  # during a form: answered, then the form asks again
    not_an_answer: bool = False  # not taken as the answer to a waiting staff question
    even_with_values: bool = False  # a question answered mid-form even when it names values
    question: bool = False  # answered too when a message holds it beside another request
    implicit: bool = False  # not in rules.yml: an FAQ intent's default rule (see the module)


class _Template(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_template(text: str, values: dict[str, Any]) -> str:
    """`{slot}` templating; unknown placeholders are left as they are."""
    formatter = string.Formatter()
    try:
        return formatter.vformat(text, (), _Template(values))
    except (ValueError, IndexError):
        return text


class TitleFixer:
    """Replaces converter renderings of titles with the data's Traditional titles."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def __call__(self, text: str) -> str:
        for converted, hant in self._pairs:
            if converted in text:
                text = text.replace(converted, hant)
        return text


@dataclass
class Domain:
    """Everything the dialogue reads from data files."""

    responses: dict[str, list[dict[str, Any]]]
    slots: dict[str, dict[str, Any]]
    labels: dict[str, dict[str, str]]
    case_types: dict[str, CaseType]
    faq: dict[str, list[FaqAnswer]]
    rules: list[Rule]
    settings: dict[str, Any] = field(default_factory=dict)
    office: dict[str, str] = field(default_factory=dict)  # data/office.yml, the office's facts
    data_dir: Path = Path("data")
    catalog: CaseTypeCatalog | None = None  # the case types as the desk reads them

    def data_file(self, relative: str) -> Path:
        """A file under the data directory (e.g. `templates/commitment_letter.docx`)."""
        return (self.data_dir / relative).resolve()

    @classmethod
    def load(cls, data_dir: Path | str = "data") -> Domain:
        """Read `domain.yml`, `case_types.yml`, `rules.yml` and `faq.yml` (optional) from
        `data_dir`."""
        base = Path(data_dir)
        domain = _read_yaml(base / "domain.yml")
        catalog = load_case_types(base / "case_types.yml")
        faq_path = base / "faq.yml"
        faq_data = _read_yaml(faq_path) if faq_path.exists() else {}
        rules_data = _read_yaml(base / "rules.yml")
        office_path = base / "office.yml"
        office = (_read_yaml(office_path).get("office") or {}) if office_path.exists() else {}
        faq = _parse_faq(faq_data)
        rules = _parse_rules(rules_data)
        return cls(
            responses=_parse_responses(domain.get("responses") or {}),
            slots=dict(domain.get("slots") or {}),
            labels={k: dict(v) for k, v in (domain.get("labels") or {}).items()},
            case_types={ct.key: ct for ct in catalog},
            faq=faq,
            rules=rules + _faq_rules(faq, rules, catalog),
            settings=dict(domain.get("settings") or {}),
            office={str(k): str(v) for k, v in office.items()},
            data_dir=base,
            catalog=catalog,
        )

    @property
    def form_slots(self) -> tuple[str, ...]:
        """Every slot a case form can fill: the slots of the case types, in listed order."""
        return tuple(dict.fromkeys(s for ct in self.case_types.values() for s in ct.slots))

    def case_type_for_intent(self, intent: str | None) -> CaseType | None:
        """The case type an intent opens, if any."""
        return next((c for c in self.case_types.values() if c.intent == intent), None)

    def titles(self) -> list[Title]:
        """Every case type and document title, longest first (see `traditional_titles`)."""
        found: dict[str, Title] = {}
        for ct in self.case_types.values():
            found.setdefault(ct.title.zh_hans, ct.title)
            for doc in ct.documents:
                found.setdefault(doc.title.zh_hans, doc.title)
        return sorted(found.values(), key=lambda t: len(t.zh_hans), reverse=True)

    def traditional_titles(self, to_traditional: Callable[[str], str]) -> TitleFixer:
        """A function that, applied after `to_traditional`, replaces the converter's rendering
        of each title with the data's `zh_hant` (the office's wording, e.g. 扣繳憑單 where
        OpenCC would write otherwise)."""
        pairs = [(to_traditional(t.zh_hans), t.zh_hant) for t in self.titles()]
        return TitleFixer([(conv, hant) for conv, hant in pairs if conv != hant])

    def label(self, kind: str, key: str | None) -> str:
        """Display label (`labels:` in domain.yml), or the key itself."""
        if key is None:
            return ""
        return self.labels.get(kind, {}).get(str(key), str(key))

    def has_response(self, name: str) -> bool:
        """Whether `responses:` defines `name`."""
        return name in self.responses

    def render(
        self, name: str, values: dict[str, Any], rng: random.Random, script: str = "hans"
    ) -> tuple[str, list[list[Button]], bool]:
        """Pick a variant of a response and fill it in.

        Returns (text, button rows, already_traditional). A variant may carry `text_hant`,
        used as is for Traditional; otherwise the engine converts the Simplified text.
        """
        variants = self.responses.get(name)
        if not variants:
            raise DomainError(f"no response named {name!r} in domain.yml")
        variant = variants[0] if len(variants) == 1 else rng.choice(variants)
        hant = script == "hant" and bool(variant.get("text_hant"))
        text = render_template(variant["text_hant"] if hant else variant["text"], values)
        rows: list[list[Button]] = []
        for row in variant.get("buttons") or []:
            items = row if isinstance(row, list) else [row]
            rows.append(
                [
                    Button(
                        render_template(str(b["title"]), values),
                        render_template(str(b["payload"]), values),
                    )
                    for b in items
                ]
            )
        return text, rows, hant


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise DomainError(f"missing data file {path}") from exc
    except yaml.YAMLError as exc:
        raise DomainError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DomainError(f"{path} must hold a mapping")
    return data


def _parse_responses(raw: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, variants in raw.items():
        items = variants if isinstance(variants, list) else [variants]
        parsed = []
        for v in items:
            v = {"text": v} if isinstance(v, str) else dict(v)
            if "text" not in v:
                raise DomainError(f"response {name!r} has a variant without text")
            parsed.append(v)
        out[name] = parsed
    return out


def _parse_faq(data: dict[str, Any]) -> dict[str, list[FaqAnswer]]:
    out: dict[str, list[FaqAnswer]] = {}
    raw = data.get("faq") or {}
    if not isinstance(raw, dict):
        raise DomainError("faq.yml: `faq` must map intents to lists of answers")
    for intent, answers in raw.items():
        if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
            raise DomainError(
                f"faq.yml: the answers of {intent!r} must be a list of `- text: ...` items"
            )
        if not any(str(a.get("text") or "").strip() for a in answers):
            raise DomainError(f"faq.yml: {intent!r} has no answer with a text")
        out[str(intent)] = [
            FaqAnswer(
                text=str(a.get("text") or ""),
                keywords=tuple(a.get("keywords") or ()),
                source=a.get("source"),
                date=str(a["date"]) if a.get("date") is not None else None,
                case_type=a.get("case_type"),
            )
            for a in answers
        ]
    return out


def _faq_rules(
    faq: dict[str, list[FaqAnswer]], rules: list[Rule], catalog: CaseTypeCatalog
) -> list[Rule]:
    """The default rule of each FAQ intent that has no rule and opens no case type: answered
    by `action_faq`, also during a form and beside another request."""
    ruled = {r.intent for r in rules}
    return [
        Rule(
            name=f"{intent} (faq.yml)",
            intent=intent,
            action="action_faq",
            interrupts_form=True,
            question=True,
            implicit=True,
        )
        for intent in faq
        if intent not in ruled and catalog.by_intent(intent) is None
    ]


def _parse_rules(data: dict[str, Any]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for raw in data.get("rules") or []:
        intent = action = None
        for step in raw.get("steps") or []:
            if "intent" in step and intent is None:
                intent = step["intent"]
            elif "action" in step and action is None:
                action = step["action"]
        if not (intent and action):
            continue
        name = str(raw.get("rule", intent))
        if intent in seen:
            raise DomainError(
                f"rules.yml: intent {intent!r} is in two rules, {seen[intent]!r} and {name!r}"
            )
        seen[intent] = name
        meta = raw.get("metadata") or {}
        rules.append(
            Rule(
                name=name,
                intent=intent,
                action=action,
                anytime=bool(meta.get("anytime")),
                interrupts_form=bool(meta.get("interrupts_form")),
                not_an_answer=bool(meta.get("not_an_answer")),
                even_with_values=bool(meta.get("even_with_values")),
                question=bool(meta.get("question")),
            )
        )
    return rules
