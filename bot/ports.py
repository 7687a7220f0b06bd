"""What the Telegram side needs from the rest of taxdesk, as Protocols.

The bot's turn pipeline never imports the dialogue engine, the case backend or the document
checks directly; the composition root (`app.container`) passes objects that satisfy these
Protocols (the desk's are in `app.adapters`). (`bot.notices`, the desk outbox's Telegram
sender, is built on the outbox loop of `desk.outbox`; what it reads of the desk comes through
`NoticeLookups`.)
In-memory implementations for tests and demos live in `testing.memory`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from actions.channel import Button, Deliver, InboundFile, InboundMessage, Reply
from taxrules.errors import UserFacingError

if TYPE_CHECKING:
    from desk.outbox import OutboxItem


@runtime_checkable
class Dialogue(Protocol):
    """The channel-free dialogue: one inbound message in, the replies out. It runs the turns
    of one chat one at a time (`actions.engine.DialogueEngine` holds the per-chat lock)."""

    async def handle(self, msg: InboundMessage, *, deliver: Deliver | None = None) -> list[Reply]:
        """Run one turn for `msg` and return what to send back (possibly nothing); await
        `deliver(replies)` before the chat's next turn starts."""
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
    ) -> None:
        """Store `(text, channel message id)` pairs sent to `chat_id`."""
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
    "NoticeLookups",
    "OutboundStore",
    "Reply",
]
