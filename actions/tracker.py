"""The conversation tracker and the events that change it (in Rasa's spirit).

Actions never mutate a tracker: they return events, and the engine applies them. A tracker is
plain data and round-trips through JSON (`to_dict` / `from_dict`), so any store can keep it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

TRACKER_VERSION = 1
MAX_TURNS = 20
MAX_TURN_CHARS = 500  # longer texts are cut in the remembered turns (the desk keeps them whole)


@dataclass
class Tracker:
    """State of one conversation."""

    conversation_key: str
    channel: str = ""
    chat_id: str = ""
    user_id: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    active_form: str | None = None  # case type key while a case form is active
    requested_slot: str | None = None
    latest_message: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)
    fallback_count: int = 0
    script: str = ""  # "hans" / "hant" of the last user text that showed it ("" = unknown)
    pending_case: str | None = None  # case number whose staff question awaits an answer
    draft_case_id: str | None = None
    files: dict[str, list[int]] = field(default_factory=dict)  # checklist item -> attachments
    unclassified: list[dict[str, Any]] = field(default_factory=list)  # files to ask about
    awaiting: str | None = None  # "confirm_submit", "offer_human", "classify_file", "queued"
    # further requests of one message, offered when the current one is done:
    # [{"case_type": key, "slots": {slot: value}}]
    queued: list[dict[str, Any]] = field(default_factory=list)
    state: str = "bot"  # "bot" or "human"
    followup: str | None = None
    updated_at: float = 0.0

    def get_slot(self, name: str) -> Any:
        """Value of a slot, or None (rasa-sdk `Tracker.get_slot`)."""
        return self.slots.get(name)

    @property
    def latest_intent(self) -> str | None:
        """Name of the intent of the latest user message."""
        intent = self.latest_message.get("intent") or {}
        return intent.get("name")

    def latest_entities(self, name: str) -> list[dict[str, Any]]:
        """Entities of the latest message with that name."""
        return [e for e in self.latest_message.get("entities", []) if e.get("entity") == name]

    def add_turn(self, role: str, text: str, intent: str | None = None) -> None:
        """Remember a turn; only the last `MAX_TURNS` are kept."""
        if len(text) > MAX_TURN_CHARS:
            text = text[: MAX_TURN_CHARS - 1] + "…"
        turn: dict[str, Any] = {"role": role, "text": text, "ts": time.time()}
        if intent:
            turn["intent"] = intent
        self.turns.append(turn)
        del self.turns[:-MAX_TURNS]

    def copy(self) -> Tracker:
        """An independent copy (actions work on copies to see their own events)."""
        return Tracker.from_dict(self.to_dict())

    def apply(self, events: list[Event]) -> None:
        """Apply events in order."""
        for event in events:
            event.apply(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "version": TRACKER_VERSION,
            "conversation_key": self.conversation_key,
            "channel": self.channel,
            "chat_id": self.chat_id,
            "user_id": self.user_id,
            "slots": dict(self.slots),
            "active_form": self.active_form,
            "requested_slot": self.requested_slot,
            "latest_message": self.latest_message,
            "turns": list(self.turns),
            "fallback_count": self.fallback_count,
            "script": self.script,
            "pending_case": self.pending_case,
            "draft_case_id": self.draft_case_id,
            "files": {k: list(v) for k, v in self.files.items()},
            "unclassified": list(self.unclassified),
            "awaiting": self.awaiting,
            "queued": list(self.queued),
            "state": self.state,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tracker:
        """Rebuild a tracker from `to_dict` output (unknown keys are ignored)."""
        return cls(
            conversation_key=data["conversation_key"],
            channel=data.get("channel", ""),
            chat_id=data.get("chat_id", ""),
            user_id=data.get("user_id", ""),
            slots=dict(data.get("slots") or {}),
            active_form=data.get("active_form"),
            requested_slot=data.get("requested_slot"),
            latest_message=dict(data.get("latest_message") or {}),
            turns=list(data.get("turns") or [])[-MAX_TURNS:],
            fallback_count=int(data.get("fallback_count", 0)),
            script=data.get("script", ""),
            pending_case=data.get("pending_case"),
            draft_case_id=data.get("draft_case_id"),
            files={k: [int(x) for x in v] for k, v in (data.get("files") or {}).items()},
            unclassified=list(data.get("unclassified") or []),
            awaiting=data.get("awaiting"),
            queued=list(data.get("queued") or []),
            state=data.get("state", "bot"),
            updated_at=float(data.get("updated_at", 0.0)),
        )


class Event:
    """Something that happened in a conversation; `apply` changes the tracker accordingly."""

    name: ClassVar[str] = "event"

    def apply(self, tracker: Tracker) -> None:
        """Change the tracker."""
        raise NotImplementedError


@dataclass(frozen=True)
class SlotSet(Event):
    """Set a slot (`requested_slot` sets the form's requested slot)."""

    key: str
    value: Any = None
    name: ClassVar[str] = "slot"

    def apply(self, tracker: Tracker) -> None:
        if self.key == "requested_slot":
            tracker.requested_slot = self.value
        elif self.value is None:
            tracker.slots.pop(self.key, None)
        else:
            tracker.slots[self.key] = self.value


@dataclass(frozen=True)
class ActiveLoop(Event):
    """Activate a case form (`name` = case type key) or deactivate it (None)."""

    form: str | None
    name: ClassVar[str] = "active_loop"

    def apply(self, tracker: Tracker) -> None:
        tracker.active_form = self.form
        if self.form is None:
            tracker.requested_slot = None


@dataclass(frozen=True)
class FollowupAction(Event):
    """Run this action next, in the same turn."""

    action: str
    name: ClassVar[str] = "followup"

    def apply(self, tracker: Tracker) -> None:
        tracker.followup = self.action


@dataclass(frozen=True)
class FormReset(Event):
    """Forget the form, its slots (except those kept), files and draft."""

    keep: tuple[str, ...] = ()
    name: ClassVar[str] = "form_reset"

    def apply(self, tracker: Tracker) -> None:
        tracker.slots = {k: v for k, v in tracker.slots.items() if k in self.keep}
        tracker.active_form = None
        tracker.requested_slot = None
        tracker.files = {}
        tracker.unclassified = []
        tracker.draft_case_id = None
        tracker.awaiting = None


@dataclass(frozen=True)
class FileCollected(Event):
    """An attachment was assigned to a checklist item."""

    item: str
    attachment_id: int
    name: ClassVar[str] = "file_collected"

    def apply(self, tracker: Tracker) -> None:
        ids = tracker.files.setdefault(self.item, [])
        if self.attachment_id not in ids:
            ids.append(self.attachment_id)
        tracker.unclassified = [
            f for f in tracker.unclassified if f["attachment_id"] != self.attachment_id
        ]


@dataclass(frozen=True)
class FilesUnclassified(Event):
    """Files whose checklist item is not known yet (asked with buttons, or kept until a
    case type is chosen)."""

    files: tuple[dict[str, Any], ...]
    name: ClassVar[str] = "files_unclassified"

    def apply(self, tracker: Tracker) -> None:
        known = {f["attachment_id"] for f in tracker.unclassified}
        tracker.unclassified.extend(f for f in self.files if f["attachment_id"] not in known)


@dataclass(frozen=True)
class DraftOpened(Event):
    """The desk opened a draft case for the active form."""

    case_id: str
    name: ClassVar[str] = "draft_opened"

    def apply(self, tracker: Tracker) -> None:
        tracker.draft_case_id = self.case_id


@dataclass(frozen=True)
class Awaiting(Event):
    """The bot asked a yes/no style question; the next affirm/deny answers it."""

    what: str | None
    name: ClassVar[str] = "awaiting"

    def apply(self, tracker: Tracker) -> None:
        tracker.awaiting = self.what


@dataclass(frozen=True)
class PendingCase(Event):
    """A staff question waits for the taxpayer (or no longer does)."""

    case_number: str | None
    name: ClassVar[str] = "pending_case"

    def apply(self, tracker: Tracker) -> None:
        tracker.pending_case = self.case_number


@dataclass(frozen=True)
class ConversationStateSet(Event):
    """`human` after a hand-over, `bot` when staff hand back."""

    state: str
    name: ClassVar[str] = "conversation_state"

    def apply(self, tracker: Tracker) -> None:
        tracker.state = self.state


@dataclass(frozen=True)
class FallbackCounted(Event):
    """One more not-understood message in a row (`reset=True` clears the count)."""

    reset: bool = False
    name: ClassVar[str] = "fallback"

    def apply(self, tracker: Tracker) -> None:
        tracker.fallback_count = 0 if self.reset else tracker.fallback_count + 1


@dataclass(frozen=True)
class UnclassifiedCleared(Event):
    """Forget the files kept without a case type (they are being classified now)."""

    name: ClassVar[str] = "unclassified_cleared"

    def apply(self, tracker: Tracker) -> None:
        tracker.unclassified = []


@dataclass(frozen=True)
class RequestsQueued(Event):
    """A message held more than one request: the others wait until the current one is done
    (`items`: {"case_type", "slots"}); a case type already waiting is not queued twice."""

    items: tuple[dict[str, Any], ...]
    name: ClassVar[str] = "requests_queued"

    def apply(self, tracker: Tracker) -> None:
        waiting = {q["case_type"] for q in tracker.queued}
        for item in self.items:
            if item["case_type"] not in waiting:
                tracker.queued.append(dict(item))
                waiting.add(item["case_type"])


@dataclass(frozen=True)
class QueuedRequestDone(Event):
    """The first waiting request was taken up or declined (or `case_type`'s, when given)."""

    case_type: str | None = None
    name: ClassVar[str] = "queued_request_done"

    def apply(self, tracker: Tracker) -> None:
        if self.case_type is None:
            del tracker.queued[:1]
        else:
            tracker.queued = [q for q in tracker.queued if q["case_type"] != self.case_type]
