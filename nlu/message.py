"""The object a text travels through the pipeline in."""

from __future__ import annotations

from datetime import date
from typing import Any

from nlu.training_data import Example

Token = tuple[str, int, int]
SparseBlock = tuple[str, list[int], list[float], int]  # (featurizer key, indices, values, dim)


class Message:
    """One text and everything the components found in it.

    `text` is the original input; `norm` is its Simplified, width-folded form of the SAME length,
    so every offset found in `norm` is an offset into `text`. `gold` is set on training messages.
    """

    __slots__ = (
        "entities",
        "gold",
        "intent",
        "intent_ranking",
        "norm",
        "sparse",
        "text",
        "today",
        "tokens",
    )

    def __init__(self, text: str, gold: Example | None = None, today: date | None = None) -> None:
        self.text = text
        self.norm = text
        self.tokens: list[Token] = []
        self.sparse: list[SparseBlock] = []
        self.intent: dict[str, Any] | None = None
        self.intent_ranking: list[dict[str, Any]] = []
        self.entities: list[dict[str, Any]] = []
        self.today = today
        self.gold = gold

    def as_parse(self) -> dict[str, Any]:
        """The Rasa `/model/parse` shape."""
        return {
            "text": self.text,
            "intent": self.intent or {"name": None, "confidence": 0.0},
            "intent_ranking": self.intent_ranking,
            "entities": self.entities,
        }
