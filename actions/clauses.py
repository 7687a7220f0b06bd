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


async def split_requests(
    text: str, parse: dict[str, Any], aparse: Parse, domain: Domain
) -> dict[str, Any] | None:
    """For a message that holds requests of two or more case types: the parse of the first
    request's clauses, with `queued_requests` = [{"case_type", "slots"}] for the others.
    None when the message holds one request (or none)."""
    if domain.case_type_for_intent((parse.get("intent") or {}).get("name")) is None:
        return None
    clauses = split_clauses(text)
    if not 2 <= len(clauses) <= MAX_CLAUSES:
        return None
    parses = [await aparse(c) for c in clauses]
    typed: list[tuple[str, str | None]] = []
    for clause, p in zip(clauses, parses, strict=True):
        intent = p.get("intent") or {}
        case_type = domain.case_type_for_intent(intent.get("name"))
        sure = float(intent.get("confidence") or 0.0) >= MIN_CONFIDENCE
        typed.append((clause, case_type.key if case_type is not None and sure else None))
    found = segments(typed)
    if len(found) < 2:
        return None
    first = dict(await aparse(found[0].text))
    intent = domain.case_types[found[0].case_type].intent
    if (first.get("intent") or {}).get("name") != intent:  # the clause alone said it
        first["intent"] = {"name": intent, "confidence": MIN_CONFIDENCE}
    queued = []
    for seg in found[1:]:
        seg_parse = await aparse(seg.text)
        queued.append(
            {"case_type": seg.case_type, "slots": slots_of(seg_parse, domain.form_slots)}
        )
    first["queued_requests"] = queued
    return first
