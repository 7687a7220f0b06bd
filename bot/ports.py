"""What the Telegram side needs from the rest of taxdesk, as Protocols.

The bot's turn pipeline never imports the dialogue engine, the case backend or the document
checks directly; the composition root (`app.container`) passes objects that satisfy these
Protocols (the desk's are in `app.adapters`). (`bot.notices`, the desk outbox's Telegram
sender, is built on the outbox loop of `desk.outbox`; what it reads of the desk comes through
`NoticeLookups`.)
In-memory implementations for tests and demos live in `testing.memory`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from actions.channel import Button, Deliver, InboundFile, InboundMessage, Reply
from taxrules.errors import UserFacingError

if TYPE_CHECKING:
    from desk.outbox import OutboxItem


@runtime_checkable
class Dialogue(Protocol):
    """The channel-free dialogue: one inbound message in, the replies out. It runs the turns
    of one chat one at a time (`actions.engine.DialogueEngine` holds the per-chat lock)."""

    async def handle(
        self,
        msg: InboundMessage,
        *,
        deliver: Deliver | None = None,
        with_staff: Callable[[], Awaitable[None]] | None = None,
    ) -> list[Reply]:
        """Run one turn for `msg` and return what to send back (possibly nothing); await
        `deliver(replies)` before the chat's next turn starts, then `with_staff()` when the
        conversation is with staff after the turn."""
        ...


@runtime_checkable
class InboundStore(Protocol):
    """Stores every update (a message row) before it is acted on."""

    async def record_update(
        self,
        channel: str,
        update_id: int,
        chat_id: str | None,
        user_id: str | None,
        text: str | None,
        raw: dict[str, Any],
    ) -> bool:
        """Store the update; True if it is new, False if `(channel, update_id)` was seen
        before (then it must not be processed again). Raises if it cannot be stored."""
        ...


@runtime_checkable
class MessageRecorder(Protocol):
    """An inbound store that records a message of any channel without a Telegram update
    (the terminal shell, the web chat): `app.adapters.DeskInboundStore`."""

    async def record_message(
        self,
        channel: str,
        chat_id: str,
        user_id: str | None,
        text: str | None,
        *,
        attachment_id: int | None = None,
    ) -> bool:
        """Store one inbound message; False for a repeat."""
        ...


class FileRejected(UserFacingError):
    """A file the taxpayer sent was refused; `user_message` says why, in Chinese."""

    def __init__(self, user_message: str, *, reason: str = "rejected") -> None:
        super().__init__(reason, user_message)
        self.reason = reason


@runtime_checkable
class FileIntake(Protocol):
    """Checks and stores an uploaded file (content checks, metadata stripped, attachment row)."""

    async def accept(
        self, data: bytes, filename: str | None, declared_type: str | None
    ) -> InboundFile:
        """Check and store `data`; raise a `UserFacingError` (e.g. `FileRejected` or
        `intake.documents.DocumentRejected`) when it is refused."""
        ...


@runtime_checkable
class OutboundStore(Protocol):
    """Records what the bot sent (outbound message rows)."""

    async def record_sent(
        self,
        channel: str,
        chat_id: str,
        texts: list[tuple[str | None, str | None]],
        *,
        outbox_key: str | None = None,
        meta: Sequence[dict[str, Any] | None] | None = None,
    ) -> None:
        """Store `(text, channel message id)` pairs sent to `chat_id` (`meta`: one per pair,
        what a channel needs to show the message again, e.g. the web chat's buttons)."""
        ...


@runtime_checkable
class AttachmentLinker(Protocol):
    """Puts an accepted file's attachment id on the inbound row of the message it came in."""

    async def link(
        self, channel: str, chat_id: str, channel_message_id: str, attachment_id: int
    ) -> None:
        """Link `attachment_id` to the inbound row of `channel_message_id` in `chat_id`."""
        ...


@runtime_checkable
class ButtonStore(Protocol):
    """Maps the short keys in callback data to full button payloads, per chat."""

    async def put(self, chat_id: int, payloads: dict[str, str]) -> None:
        """Remember `key -> payload` for buttons just sent to `chat_id`."""
        ...

    async def get(self, chat_id: int, key: str) -> str | None:
        """The payload of `key` in `chat_id`, or None if unknown/expired."""
        ...


@runtime_checkable
class NoticeLookups(Protocol):
    """What the notice sender (`bot.notices`) reads of the desk."""

    async def recent_texts(self, notice: OutboxItem, limit: int) -> Sequence[str | None]:
        """The latest texts (newest first, at most `limit`) the taxpayer sent in the
        conversation `notice` goes to; empty when there is none."""
        ...

    async def document(self, storage_key: str) -> bytes:
        """The bytes of a stored attachment (a document staff produced, sent with the
        completion notice); `LookupError` when it is gone."""
        ...


@dataclass(frozen=True, slots=True)
class TopicCase:
    """An open case as the topic card shows it."""

    number: str
    title: str
    status: str
    deadline_at: datetime | None


@dataclass(frozen=True, slots=True)
class TopicFacts:
    """What a conversation's staff topic is named with and its pinned card shows."""

    conversation_id: int
    display_name: str
    masked_tax_id: str | None
    state: str  # "bot" | "human"
    cases: tuple[TopicCase, ...] = ()
    intents: tuple[str, ...] = ()  # the taxpayer's last intents, oldest first
    verified: bool | None = None  # the chat is verified for that taxpayer ID (None: no ID)


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """A registered staff member, found by their Telegram user id."""

    staff_id: int
    name: str
    role: str


@runtime_checkable
class TopicStore(Protocol):
    """What `bot.topics` keeps in the desk: the conversation ↔ topic mapping, the card's
    facts and the message mapping of the relay."""

    async def topic(self, conversation_id: int) -> int | None:
        """The conversation's topic (thread id), or None."""
        ...

    async def save_topic(self, conversation_id: int, staff_chat_id: int, thread_id: int) -> int:
        """Remember a new topic; returns the one the conversation keeps (first saved wins)."""
        ...

    async def save_card(self, conversation_id: int, message_id: int) -> None:
        """Remember the topic's pinned card."""
        ...

    async def card(self, conversation_id: int) -> int | None:
        """The pinned card's message id, or None."""
        ...

    async def forget_topic(self, conversation_id: int, thread_id: int) -> None:
        """The topic is gone: the next need creates a new one."""
        ...

    async def facts(self, conversation_id: int) -> TopicFacts:
        """The card's facts."""
        ...

    async def record_relay(
        self,
        conversation_id: int,
        direction: str,
        taxpayer_message_id: int,
        staff_chat_id: int,
        staff_message_id: int,
    ) -> None:
        """Remember a copied message (`to_staff` / `to_taxpayer`)."""
        ...

    async def taxpayer_copy_of(self, staff_chat_id: int, staff_message_id: int) -> int | None:
        """The taxpayer-chat message that is the copy of (or the original of) a topic
        message, once recorded."""
        ...


@runtime_checkable
class StaffDesk(Protocol):
    """What the staff supergroup's handlers ask of the desk."""

    async def issue_code(self, conversation_id: int, staff_id: int) -> str:
        """A one-time verification code for the taxpayer ID the conversation used (`/code`):
        the text to show staff (the code and the masked ID); `UserFacingError` when none."""
        ...

    async def staff_member(self, telegram_user_id: int) -> StaffIdentity | None:
        """The registered, active staff member with this Telegram id, or None."""
        ...

    async def conversation_of_topic(self, staff_chat_id: int, thread_id: int) -> int | None:
        """The conversation whose topic this is, or None (General, unknown topics)."""
        ...

    async def relay_to_taxpayer(
        self,
        conversation_id: int,
        staff_chat_id: int,
        message_id: int,
        staff_id: int,
        *,
        reply_to: int | None = None,
        text: str | None = None,
        album: list[int] | None = None,
    ) -> bool:
        """Queue a staff message to be copied to the taxpayer (outbox); `reply_to`: the
        topic message it quotes (followed to the taxpayer's side when it was relayed);
        `album`: the ids of all items of an album, copied as one album.
        True when it took the conversation over from the bot (the taxpayer is told which
        staff member now serves them, and the bot stops answering)."""
        ...

    async def relay_edit(self, staff_chat_id: int, message_id: int, text: str) -> bool:
        """A relayed staff message was edited: edit the taxpayer's copy (outbox)."""
        ...

    async def hand_back(self, conversation_id: int, staff_id: int) -> bool:
        """`/bot`: the bot answers again and the taxpayer is told; False if it already did."""
        ...

    async def flag_for_review(
        self, conversation_id: int, staff_id: int, staff_chat_id: int, quoted: int | None
    ) -> str:
        """`/review`: put the taxpayer's message the command quotes (or their latest text)
        into the admins' review inbox; returns that text. `UserFacingError` when none."""
        ...

    async def case_step(
        self,
        action: str,
        number: str,
        staff_id: int,
        text: str = "",
        *,
        attachment_ids: Sequence[int] = (),
    ) -> str:
        """A staff step on a case (claim, release, complete, reject, ask) through the desk's
        one set of staff operations; returns what to show. Raises `UserFacingError` (e.g.
        the desk's `AlreadyClaimed`, naming who has it) when the step is refused.
        `attachment_ids`: with `complete`, the documents staff produced (checked, stored),
        sent to the taxpayer with the notice."""
        ...

    async def queue(self) -> list[tuple[TopicCase, str | None]]:
        """The active cases by deadline, each with its due state (ok / due_soon / overdue)."""
        ...

    async def case_buttons(self, number: str) -> list[str]:
        """The desk actions the case's announcement offers now (by its state)."""
        ...

    async def check_step(self, action: str, number: str, staff_id: int) -> None:
        """Raise `UserFacingError` (why not) unless this staff member may take the step
        (ask, complete, reject) on the case now; nothing changes."""
        ...


@runtime_checkable
class StaffRelay(Protocol):
    """Where the taxpayer's messages go while staff own the conversation."""

    async def relay_to_staff(
        self, channel: str, chat_id: str, messages: list[tuple[int, str | None, int | None]]
    ) -> int:
        """Queue `(message id, caption of a photo/document or None, the message id it quotes
        or None)` for the conversation's topic when it is with
        staff; returns how many were queued (0 while the bot answers)."""
        ...

    async def relay_edit_to_staff(
        self, channel: str, chat_id: str, message_id: int, text: str
    ) -> bool:
        """The taxpayer edited a message copied into the topic: the copy follows (outbox);
        False when it was never relayed."""
        ...


__all__ = [
    "AttachmentLinker",
    "Button",
    "ButtonStore",
    "Deliver",
    "Dialogue",
    "FileIntake",
    "FileRejected",
    "InboundFile",
    "InboundMessage",
    "InboundStore",
    "MessageRecorder",
    "NoticeLookups",
    "OutboundStore",
    "Reply",
    "StaffDesk",
    "StaffIdentity",
    "StaffRelay",
    "TopicCase",
    "TopicFacts",
    "TopicStore",
]
