"""Two requests in one message ("我要更正增值税申报，顺便开个完税证明").

The message is split into clauses on punctuation and on the words that join a second request
(然后, 顺便, 还有, 另外, ...); each clause is parsed alone. When clauses ask for two or more
different case types with confidence, the first request (with the clauses after it up to the
next request: its values) is the one handled now; each later one is queued with the values
its own clauses gave, and offered when the first is submitted or cancelled (`actions.actions.
offer_queued`). A message with one request, however many clauses, is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from actions.domain import Domain

SEPARATORS = re.compile(r"[，,。；;！!？?\n]+|然后|顺便|还有|另外|同时|以及|并且|再帮我|还要|还想")
MIN_CONFIDENCE = 0.6  # a clause counts as a request only when the NLU is this sure
# the whole message taken as one of these: a question in it is answered instead ("你好，地址在哪")
QUESTION_FIRST = frozenset({"nlu_fallback", "out_of_scope", "greet"})
MAX_CLAUSES = 8  # longer messages are not split (one request described at length)

Parse = Callable[[str], Awaitable[dict[str, Any]]]


def split_clauses(text: str) -> list[str]:
    """The clauses of `text`, without the separators and joining words."""
    return [c.strip() for c in SEPARATORS.split(text) if c and c.strip()]


@dataclass
class Segment:
    """A request clause and the clauses after it that carry its values."""

    case_type: str
    clauses: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "，".join(self.clauses)


def segments(clauses: list[tuple[str, str | None]]) -> list[Segment]:
    """Group `(clause, case type or None)` pairs: a clause without a request of its own goes
    with the request before it (clauses before the first request go with the first); two
    segments of one case type are one."""
    out: list[Segment] = []
    leading: list[str] = []
    for clause, case_type in clauses:
        if case_type is None:
            (out[-1].clauses if out else leading).append(clause)
            continue
        same = next((s for s in out if s.case_type == case_type), None)
        if same is not None:
            same.clauses.append(clause)
            continue
        out.append(Segment(case_type, [*leading, clause] if not out else [clause]))
        leading = []
    return out


def slots_of(parse: dict[str, Any], form_slots: tuple[str, ...]) -> dict[str, str]:
    """The valid values a clause's entities give for form slots."""
    out: dict[str, str] = {}
    for ent in parse.get("entities") or []:
        name = ent.get("entity")
        if name in form_slots and not ent.get("invalid") and name not in out:
            out[str(name)] = str(ent.get("value"))
    return out


def question_intents(domain: Domain) -> frozenset[str]:
    """The intents data/rules.yml marks `question: true`."""
    return frozenset(r.intent for r in domain.rules if r.question)


def _sure(parse: dict[str, Any]) -> str | None:
    intent = parse.get("intent") or {}
    if float(intent.get("confidence") or 0.0) < MIN_CONFIDENCE:
        return None
    name = intent.get("name")
    return str(name) if name else None


def _with_intent(parse: dict[str, Any], intent: str) -> dict[str, Any]:
    out = dict(parse)
    if (out.get("intent") or {}).get("name") != intent:  # the clause alone said it
        out["intent"] = {"name": intent, "confidence": MIN_CONFIDENCE}
    return out


def answer_and_values(parse: dict[str, Any], form_slots: tuple[str, ...]) -> dict[str, Any]:
    """During a form, a question with values for that form (`form_slots`) in other clauses
    (`form_values`): the values are the message's parse, the question is answered beside it."""
    values = parse.get("form_values")
    if not values or not slots_of(values, form_slots):
        return parse
    question = {k: v for k, v in parse.items() if k != "form_values"}
    return {
        **question,  # the message's files, original text...
        "text": values.get("text", ""),
        "intent": values.get("intent"),
        "intent_ranking": list(values.get("intent_ranking") or [])[:1],
        "entities": list(values.get("entities") or []),
        "extra_questions": [question],
    }


def _shared_id(parse: dict[str, Any], parses: list[dict[str, Any]]) -> dict[str, Any]:
    """A taxpayer ID named anywhere in the message is the one of every request in it
    ("开完税证明，另外上月增值税要更正，代码9165…"): added where the request's clauses lack one."""
    entities = list(parse.get("entities") or [])
    if any(e.get("entity") == "taxpayer_id" for e in entities):
        return parse
    found = next(
        (
            e
            for p in parses
            for e in p.get("entities") or []
            if e.get("entity") == "taxpayer_id" and not e.get("invalid")
        ),
        None,
    )
    return parse if found is None else {**parse, "entities": [*entities, dict(found)]}


async def split_requests(
    text: str, parse: dict[str, Any], aparse: Parse, domain: Domain
) -> dict[str, Any] | None:
    """For a message that holds more than one thing to do: the parse of what is handled
    first, with `queued_requests` = [{"case_type", "slots"}] for the other case types and
    `extra_questions` = [parse] for the questions (`question: true` in rules.yml) asked
    beside it, each answered from its own clauses before the first is handled
    ("申领发票，顺便问下周六开门吗", "大厅几点开门，地址在哪"). None when the message holds one
    request or one question (or neither): it is taken whole."""
    clauses = split_clauses(text)
    if not 2 <= len(clauses) <= MAX_CLAUSES:
        return None
    questions_known = question_intents(domain)
    parses = [await aparse(c) for c in clauses]
    typed: list[tuple[str, str | None]] = []
    values: list[str] = []  # the clauses that are no question and name form values
    questions: dict[str, list[str]] = {}
    for clause, p in zip(clauses, parses, strict=True):
        intent = _sure(p)
        case_type = domain.case_type_for_intent(intent)
        if case_type is None and intent in questions_known:
            questions.setdefault(str(intent), []).append(clause)
            continue
        typed.append((clause, case_type.key if case_type is not None else None))
        if slots_of(p, domain.form_slots):
            values.append(clause)
    found = segments(typed)
    whole = (parse.get("intent") or {}).get("name")
    if not found:
        if whole in questions and len(questions) == 1:
            if not values:
                return None
            # "9165…，另外电话多少": during a form the values are its answer and the question
            # is answered too (`answer_and_values`); otherwise the question is all
            question = dict(parse)
            question["form_values"] = _with_intent(await aparse("，".join(values)), "provide_info")
            return question
        if not questions:
            return None
        # Anything else the whole message was taken as (values for the form, a complaint, a
        # yes) is handled as before, the questions beside it too; a question is first only
        # when the whole message was a question, a greeting or not understood.
        keep_whole = whole not in questions and whole not in QUESTION_FIRST
        if keep_whole:
            first, rest = dict(parse), list(questions.items())
        else:
            order = sorted(questions.items(), key=lambda q: q[0] != whole)
            first_intent, first_clauses = order[0]
            first = _with_intent(await aparse("，".join(first_clauses)), first_intent)
            rest = order[1:]
            if not rest:
                return first
    else:
        if len(found) < 2 and not questions:
            return None
        intent = domain.case_types[found[0].case_type].intent
        first = _shared_id(_with_intent(await aparse(found[0].text), intent), parses)
        rest = list(questions.items())
    queued = []
    for seg in found[1:]:
        seg_parse = _shared_id(await aparse(seg.text), parses)
        queued.append(
            {"case_type": seg.case_type, "slots": slots_of(seg_parse, domain.form_slots)}
        )
    if queued:
        first["queued_requests"] = queued
    extras = []
    for name, texts in rest:
        if name == (first.get("intent") or {}).get("name"):
            continue
        extras.append(_with_intent(await aparse("，".join(texts)), name))
    if extras:
        first["extra_questions"] = extras
    if not queued and not extras:
        return None
    return first
