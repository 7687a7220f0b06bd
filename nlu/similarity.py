"""Character n-gram similarity for the studio: conflicting examples, review grouping, and
taxpayers' messages suggested as examples of an intent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nlu.training_data import Example

NEAR_DUPLICATE = 0.9  # Jaccard of char 3-grams above which examples of two intents conflict
GROUP_SIMILARITY = 0.5  # review items at least this alike are shown together


def grams(text: str, n: int = 3) -> frozenset[str]:
    """The character n-grams of a text (the whole text when it is shorter)."""
    t = "".join(text.lower().split())
    if len(t) <= n:
        return frozenset({t}) if t else frozenset()
    return frozenset(t[i : i + n] for i in range(len(t) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True)
class Conflict:
    """Two examples under different intents: `same` text, or near-duplicates."""

    text: str
    intent: str
    other_text: str
    other_intent: str
    similarity: float

    @property
    def same(self) -> bool:
        return self.text == self.other_text


def conflicts(examples: list[Example], threshold: float = NEAR_DUPLICATE) -> list[Conflict]:
    """Pairs of examples of different intents that are the same text or whose char 3-gram
    Jaccard exceeds `threshold` (candidates from an inverted index of the grams; two texts
    can only pass the threshold when they share a gram)."""
    sets = [grams(ex.text) for ex in examples]
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            index[g].append(i)
    found: dict[tuple[int, int], float] = {}
    for i, s in enumerate(sets):
        shared: dict[int, int] = defaultdict(int)
        for g in s:
            for j in index[g]:
                if j > i:
                    shared[j] += 1
        for j, inter in shared.items():
            if examples[i].intent == examples[j].intent:
                continue
            sim = inter / (len(s) + len(sets[j]) - inter)
            if sim > threshold or examples[i].text == examples[j].text:
                found[(i, j)] = sim
    return [
        Conflict(
            examples[i].text, examples[i].intent, examples[j].text, examples[j].intent, round(v, 3)
        )
        for (i, j), v in sorted(found.items(), key=lambda kv: -kv[1])
    ]


def group_similar(texts: list[str], threshold: float = GROUP_SIMILARITY) -> list[list[int]]:
    """Indexes of `texts` grouped greedily (each joins the first group whose first text is at
    least `threshold` alike); groups keep the order of their first member."""
    groups: list[list[int]] = []
    heads: list[frozenset[str]] = []
    for i, text in enumerate(texts):
        g = grams(text)
        for k, head in enumerate(heads):
            if jaccard(g, head) >= threshold:
                groups[k].append(i)
                break
        else:
            groups.append([i])
            heads.append(g)
    return groups


SUGGEST_SIMILAR = 0.5  # share of an example's char bigrams found in the message, or
SUGGEST_CONFIDENCE = 0.05  # the model's confidence in the intent (when not its answer)
SUGGEST_EXAMPLES = 60  # of the intent's examples compared (a page stays well under a second)


@dataclass(frozen=True)
class Suggestion:
    """A message that may belong to an intent: its index in the texts given, what the
    model answers now, and the score (the larger of likeness and confidence)."""

    index: int
    now: str
    score: float


def suggest(
    intent: str,
    examples: list[str],
    texts: list[str],
    parse: Callable[[str], dict[str, Any]] | None = None,
    limit: int = 15,
) -> list[Suggestion]:
    """The `texts` (taxpayers' messages, not examples) that may belong to `intent`, best
    first: holding at least half the character bigrams of one of its `examples` (two at
    least), or given the intent `SUGGEST_CONFIDENCE` by `parse` without it being the answer.
    A message the model already answers with `intent` is left out."""
    mine = [grams(e, 2) for e in examples[:SUGGEST_EXAMPLES]]
    out: list[Suggestion] = []
    for index, text in enumerate(texts):
        theirs = grams(text, 2)
        alike = max((len(g & theirs) / len(g) for g in mine if len(g & theirs) >= 2), default=0.0)
        confidence, now = 0.0, ""
        if parse is not None:
            parsed = parse(text)
            now = parsed["intent"]["name"]
            confidence = next(
                (r["confidence"] for r in parsed["intent_ranking"] if r["name"] == intent), 0.0
            )
        if now == intent or (alike < SUGGEST_SIMILAR and confidence < SUGGEST_CONFIDENCE):
            continue
        out.append(Suggestion(index, now, max(alike, confidence)))
    out.sort(key=lambda s: -s.score)
    return out[:limit]
