"""What the dialogue needs from the rest of taxdesk, as Protocols.

The dialogue never imports the NLU engine, the case backend or a database driver. The
composition root (`main.py`) passes objects that satisfy these protocols: an adapter over
`nlu.Interpreter`, an adapter over the desk services, a tracker store. Tests pass the fakes
from `testing.dialogue`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from taxrules.errors import UserFacingError
from taxrules.periods import PeriodReading

if TYPE_CHECKING:
    from actions.tracker import Tracker

ConversationState = Literal["bot", "human"]
# The five 好差评 levels, best first (the desk's keys).
RATING_LEVELS: tuple[str, ...] = (
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
)
RATING_ALIASES: dict[str, str] = {"basic": "basically_satisfied"}


@dataclass(frozen=True, slots=True)
class Requester:
    """Who is talking: the channel, chat and user, and the conversation key built from them."""

    channel: str
    chat_id: str
    user_id: str

    @property
    def conversation_key(self) -> str:
        """The key trackers, locks and desk conversations are stored under."""
        return conversation_key(self.channel, self.chat_id)


def conversation_key(channel: str, chat_id: str) -> str:
    """`telegram:12345` — one conversation per channel chat."""
    return f"{channel}:{chat_id}"


@dataclass(frozen=True, slots=True)
class SubmittedCase:
    """What the desk answers when a draft case is submitted."""

    number: str  # "TX-2026-000123"
    deadline: date  # computed by the desk in working days (weekends, holidays, 调休)


#: Submitted cases that can still take a file from the taxpayer (a missing page).
TAKES_FILES: frozenset[str] = frozenset({"queued", "in_progress", "waiting_taxpayer"})


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One case of this taxpayer as the status action shows it (DIALOGUES §5, §12): open,
    or recently finished (done, rejected) with its result."""

    number: str
    case_type: str  # key in data/case_types.yml
    status: str  # e.g. "queued", "in_progress", "waiting_taxpayer", "done", "rejected"
    deadline: date | None = None
    staff_question: str | None = None  # the last question staff asked, when waiting
    note: str | None = None  # done: the staff note (Simplified or as staff wrote it)
    reason: str | None = None  # rejected: the reason
    closed_on: date | None = None  # done / rejected: the day (office time)
    documents: tuple[str, ...] = ()  # names of the files staff produced (sent with the notice)

    @property
    def is_result(self) -> bool:
        """Finished: done, rejected, or withdrawn/cancelled after submitting."""
        return self.status in ("done", "rejected", "cancelled")


@dataclass(frozen=True, slots=True)
class Handoff:
    """What the desk answers when a conversation is handed to staff, so that the reply
    promises only what stands behind it."""

    staff_chat: bool  # a staff chat is configured: a person there has been asked to reply
    open_now: bool  # inside office hours
    next_opening: datetime | None  # when closed: the next opening, in the office's time zone
    hours: str  # the office hours in words (Simplified), e.g. "工作日 9:00–12:00…"


@dataclass(frozen=True, slots=True)
class ComplaintRecorded:
    """What the desk answers when a complaint is recorded: the follow-up's number and the
    working day by which a supervisor answers."""

    follow_up_id: int
    due: date


@dataclass(frozen=True, slots=True)
class OfficeDay:
    """One day on the office's calendar: whether the 办税服务厅 opens, and the name of the
    holiday (国庆节) or of the 调休 working day (国庆节调休) when it is one."""

    day: date
    open: bool
    name: str | None = None


class GatewayError(UserFacingError):
    """A desk operation failed in a way the taxpayer should be told about (Chinese message)."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message, user_message)


@runtime_checkable
class Interpreter(Protocol):
    """The NLU engine. `aparse` returns a Rasa-shaped parse dict:
    {"text", "intent": {"name", "confidence"}, "intent_ranking": [...],
     "entities": [{"entity", "value", "start", "end", "extractor", ["invalid", "reason"]}]}.
    Must not block the event loop (run CPU work in a thread)."""

    async def aparse(self, text: str) -> dict[str, Any]:
        """Parse one (already Simplified) message."""
        ...


@runtime_checkable
class CaseGateway(Protocol):
    """The case backend, seen from the dialogue. Implemented over the desk services.

    Case ids of drafts are opaque strings; submitted cases are addressed by their number.
    Errors the taxpayer should hear are raised as `GatewayError`.
    """

    async def open_draft(
        self, requester: Requester, case_type: str, slots: Mapping[str, str]
    ) -> str:
        """Open a draft (`collecting`) case of `case_type` for this conversation; return its
        id (the desk's case number will do). `slots` always holds `taxpayer_id`."""
        ...

    async def set_slots(self, case_id: str, slots: Mapping[str, str]) -> None:
        """Store the form's values (normal forms: tax_type key, period, 18-char id, amount)."""
        ...

    async def attach_file(
        self, case_id: str, attachment_id: int, checklist_item: str, *, requester: Requester
    ) -> None:
        """Link a stored attachment to a checklist item (key from case_types.yml) of a case
        this conversation may change (else `GatewayError`, and nothing changes)."""
        ...

    async def submit(self, case_id: str) -> SubmittedCase:
        """Queue the draft; return the case number and the deadline. The dialogue tells the
        taxpayer itself, so no separate "queued" notice should be sent."""
        ...

    async def cancel(self, case_id: str, *, requester: Requester) -> None:
        """Drop a draft (nothing of it is submitted); only a case this conversation may
        change (else `GatewayError`, and nothing changes)."""
        ...

    async def list_cases(
        self, requester: Requester, *, taxpayer_id: str | None
    ) -> Sequence[CaseSummary]:
        """The cases this conversation may see: the ones it opened, and all cases of the
        taxpayer IDs it is verified for (naming a taxpayer ID, `taxpayer_id`, adds nothing by
        itself). The open (submitted, not finished) ones, newest first, then the recent
        results (done, rejected), latest first."""
        ...

    async def case_status(
        self, requester: Requester, case_number: str, *, taxpayer_id: str | None
    ) -> CaseSummary:
        """One case this chat may see, by number (`GatewayError` when it may not: not
        found)."""
        ...

    async def withdraw(
        self, requester: Requester, case_number: str, *, taxpayer_id: str | None
    ) -> None:
        """Withdraw a submitted case no one has claimed yet; once claimed `GatewayError`
        says why."""
        ...

    async def add_files(
        self,
        requester: Requester,
        case_number: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        """Add files (a missing page) to a submitted case that can still take them
        (`TAKES_FILES`); staff see the addition."""
        ...

    async def is_verified(self, requester: Requester, taxpayer_id: str) -> bool:
        """Whether this conversation is verified for `taxpayer_id` (sees all its cases)."""
        ...

    async def verify_contact(
        self, requester: Requester, phone: str, contact_user_id: str | None
    ) -> Sequence[str]:
        """A contact the channel received (never a typed text): when it is the sender's own
        (`contact_user_id` == `requester.user_id`) and its number is a registered tax
        handler's, the conversation is verified for those taxpayer IDs (returned masked).
        `GatewayError` with the reason otherwise."""
        ...

    async def verify_code(self, requester: Requester, code: str) -> str:
        """A one-time code staff issued: the conversation is verified for its taxpayer ID
        (returned masked). `GatewayError` with the reason (wrong code, too many tries)."""
        ...

    async def answer_question(
        self,
        requester: Requester,
        case_number: str,
        text: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        """The taxpayer's answer to a staff question; the case goes back to staff."""
        ...

    async def rate(
        self, requester: Requester, case_number: str, level: str, *, taxpayer_id: str | None
    ) -> None:
        """Record a 好差评 rating; `level` is one of `RATING_LEVELS`. Only for a case this
        conversation may rate (else `GatewayError`, the same as for no such case)."""
        ...

    async def hand_over(self, requester: Requester, reason: str) -> Handoff:
        """Hand the conversation to staff: its state becomes `human` (`reason`: the intent,
        "request_human", "complaint", or "fallback"). Returns whether a staff chat exists
        and the office hours at this moment."""
        ...

    async def conversation_state(self, requester: Requester) -> ConversationState:
        """`human` while staff own the conversation, else `bot` (asked only while human)."""
        ...

    async def office_days(self, start: date, days: int) -> Sequence[OfficeDay]:
        """The office's calendar from `start` for `days` days (holidays and 调休 included)."""
        ...

    async def record_complaint(
        self, requester: Requester, text: str, *, working_days: int
    ) -> ComplaintRecorded:
        """Record a complaint as a follow-up for a supervisor (kind `complaint`, with the text
        and the conversation), visible to staff; due in `working_days` working days. The
        conversation stays with the bot."""
        ...

    async def add_review_item(
        self, requester: Requester, text: str, parse: Mapping[str, Any], *, reason: str
    ) -> None:
        """Put a message the bot did not understand into the admins' review inbox
        (`reason`: the intent, "nlu_fallback" or "out_of_scope")."""
        ...


@runtime_checkable
class TrackerStore(Protocol):
    """Where trackers live between turns (and across restarts)."""

    async def load(self, conversation_key: str) -> Tracker | None:
        """The stored tracker, or None for a new conversation."""
        ...

    async def save(self, tracker: Tracker) -> None:
        """Store the tracker (replacing the previous version)."""
        ...


@dataclass(frozen=True, slots=True)
class IdCheck:
    """Result of a taxpayer-id check (`taxrules.ids.validate_taxpayer_id`)."""

    valid: bool
    value: str | None
    reason: str | None


@runtime_checkable
class Normalizers(Protocol):
    """Slot value normalisers (the rules of `taxrules`, wrapped in
    `actions.validation.NluNormalizers`)."""

    def tax_period(self, text: str, today: date) -> PeriodReading | None:
        """The period `text` names (`taxrules.periods.read_period`: `2019-12`, `2020-Q1`,
        `2020-H1`, `2021`, `2023..2025`, or the reason it is impossible), or None."""
        ...

    def taxpayer_id(self, code: str) -> IdCheck:
        """Check of a taxpayer ID: a credit code or a resident identity number."""
        ...

    def tax_type(self, text: str) -> str | None:
        """Canonical tax type key (vat, cit, iit, stamp, ...) or None."""
        ...

    def amount(self, text: str) -> Decimal | None:
        """Amount in yuan, or None."""
        ...

    def mask(self, code: str) -> str:
        """`9131****12G`."""
        ...
