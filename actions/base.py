"""The action interface (rasa-sdk shape) and what actions may use besides the tracker:
`Action`, `UtterAction`, `ActionContext`, and `FormValidationAction` (the slot extraction
and validation the case form calls, found by slot name)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from actions.dispatcher import CollectingDispatcher
from actions.domain import Domain, DomainError
from actions.ports import CaseGateway, Normalizers, Requester
from actions.tracker import Event, Tracker


@dataclass(frozen=True)
class ActionContext:
    """Services the actions call: the case backend, the slot normalisers and the clock."""

    gateway: CaseGateway
    normalizers: Normalizers
    today: Callable[[], date]


def requester_of(tracker: Tracker) -> Requester:
    """The requester a tracker belongs to."""
    return Requester(channel=tracker.channel, chat_id=tracker.chat_id, user_id=tracker.user_id)


class Action:
    """An action: `name()` and `run(dispatcher, tracker, domain) -> list[Event]`.

    Actions read the tracker, utter through the dispatcher, call services, and return events;
    they never change the tracker themselves.
    """

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    def name(self) -> str:
        """The action's name, as used in rules and `FollowupAction`."""
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        """Do the action."""
        raise NotImplementedError


class UtterAction(Action):
    """An action that only utters a response of the domain (`utter_*` in rules)."""

    def __init__(self, ctx: ActionContext, response: str) -> None:
        super().__init__(ctx)
        self._response = response

    def name(self) -> str:
        return self._response

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        dispatcher.utter_message(response=self._response)
        return []


SlotMethod = Callable[..., Awaitable[dict[str, Any]]]


class FormValidationAction:
    """Slot extraction and validation in rasa-sdk's `FormValidationAction` shape, dispatched
    by slot name:

    - `extract_<slot>(dispatcher, tracker, domain) -> {slot: candidate}` (or `{}`) pulls a
      candidate out of the text of the latest message (the answer to the form's question);
    - `validate_<slot>(value, dispatcher, tracker, domain) -> {slot: value}` returns the
      normal form, or `{slot: None}` after uttering why the value is refused;
    - optionally `show_<slot>(value, domain) -> str`, how a value reads in summaries
      (default: as it is).

    An entity named like the slot (from the NLU, or a button payload's data) is a candidate
    without any method. Which slots a form asks is data (`data/case_types.yml`), so a new slot
    is one `extract_`/`validate_` pair in a subclass and its name in the data; `check` refuses
    a domain whose case types name a slot without its pair.
    """

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    def check(self, domain: Domain) -> None:
        """Raise `DomainError` when a case type names a slot without its method pair."""
        for case_type in domain.case_types.values():
            missing = self.missing_methods(case_type.slots)
            if missing:
                raise DomainError(
                    f"case type {case_type.key!r} asks for slots that "
                    f"{type(self).__name__} cannot fill: no {', '.join(missing)}"
                )

    def missing_methods(self, slots: Iterable[str]) -> list[str]:
        """The `extract_<slot>` / `validate_<slot>` methods `slots` need and this class lacks."""
        names = (f"{kind}_{slot}" for slot in slots for kind in ("extract", "validate"))
        return [name for name in names if not callable(getattr(self, name, None))]

    @staticmethod
    def from_entity(tracker: Tracker, slot: str) -> dict[str, Any] | None:
        """The entity of the latest message named `slot` (a valid one first), if any. A value
        the message denies ("不是增值税，是企业所得税") gives way to the one it names instead."""
        entities = tracker.latest_entities(slot)
        if not entities:
            return None
        text = str(tracker.latest_message.get("text") or "")
        meant = [e for e in entities if not _denied(text, e)]
        entities = meant or entities
        valid = [e for e in entities if not e.get("invalid")]
        return dict(valid[0] if valid else entities[0])

    async def extract(
        self,
        slots: Iterable[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Domain,
        *,
        from_text: bool,
    ) -> dict[str, Any]:
        """Candidates for `slots` offered by the latest message: entities for any of them
        (given early, or several at once), then, when `from_text`, `extract_<slot>` for each
        slot still without a value or a candidate. Keys keep that order."""
        slots = tuple(slots)
        out: dict[str, Any] = {}
        for slot in slots:
            entity = self.from_entity(tracker, slot)
            if entity is not None:
                out[slot] = entity
        if not from_text or not tracker.latest_message.get("text"):
            return out
        for slot in slots:
            if slot not in out and not tracker.get_slot(slot):
                out.update(await self._method("extract", slot)(dispatcher, tracker, domain))
        return out

    async def validate(
        self,
        candidates: Mapping[str, Any],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Domain,
    ) -> dict[str, Any]:
        """`validate_<slot>` for each candidate: {slot: normal form, or None when refused}."""
        out: dict[str, Any] = {}
        for slot, value in candidates.items():
            out.update(await self._method("validate", slot)(value, dispatcher, tracker, domain))
        return out

    def show(self, slot: str, value: Any, domain: Domain) -> str:
        """How a slot value reads in a summary (`show_<slot>`, else the value itself)."""
        method = getattr(self, f"show_{slot}", None)
        return str(value) if method is None else str(method(value, domain))

    def _method(self, kind: str, slot: str) -> SlotMethod:
        method = getattr(self, f"{kind}_{slot}", None)
        if method is None:
            raise DomainError(f"{type(self).__name__} has no {kind}_{slot}")
        result: SlotMethod = method
        return result


# "不是X" / "并非X" / "而不是X" right before a value: the message names it to deny it.
_DENIAL_RE = re.compile(r"(?:不是|并非|並非|而非|不是说|不是說)\s*(?:那个|那個)?\s*$")


def _denied(text: str, entity: Mapping[str, Any]) -> bool:
    """Whether `text` denies the value of `entity` ("不是增值税" before it)."""
    start = entity.get("start")
    if not isinstance(start, int) or start <= 0:
        return False
    return bool(_DENIAL_RE.search(text[max(0, start - 6) : start]))
