"""Turning aiogram updates into the dialogue's `InboundMessage`, and the bits of an update
that are stored before it is acted on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from aiogram.types import CallbackQuery, Message, Update

from actions.channel import InboundFile, InboundMessage, SharedContact
from taxrules.phones import mask_phone

CHANNEL = "telegram"

_TRADITIONAL_TAGS = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def is_traditional(language_code: str | None) -> bool:
    """Whether the client's language setting asks for Traditional characters."""
    return bool(language_code) and language_code.lower().startswith(_TRADITIONAL_TAGS)  # type: ignore[union-attr]


def pick(language_code: str | None, simplified: str, traditional: str) -> str:
    """The Simplified or Traditional variant of a channel-side message."""
    return traditional if is_traditional(language_code) else simplified


def describe_update(update: Update) -> tuple[str | None, str | None, str | None]:
    """`(chat_id, user_id, text)` of an update, as stored in the message row."""
    msg = update.message or update.edited_message
    if msg is not None:
        user = msg.from_user
        return (
            str(msg.chat.id),
            str(user.id) if user else None,
            msg.text or msg.caption or _contact_text(msg),
        )
    query = update.callback_query
    if query is not None:
        chat_id = str(query.message.chat.id) if query.message is not None else None
        return chat_id, str(query.from_user.id), query.data
    return None, None, None


def _contact_text(message: Message) -> str | None:
    """A shared contact as the message row shows it (the number masked)."""
    if message.contact is None:
        return None
    return f"[联系人 {mask_phone(message.contact.phone_number)}]"


def from_contact(message: Message) -> InboundMessage:
    """An `InboundMessage` for a shared contact card: its number, and whose card it is
    (`contact.user_id`; the dialogue checks it is the sender's own)."""
    assert message.contact is not None
    owner = message.contact.user_id
    return replace(
        from_message(message),
        contact=SharedContact(message.contact.phone_number, str(owner) if owner else None),
    )


def from_message(
    message: Message,
    *,
    text: str | None = None,
    files: Sequence[InboundFile] = (),
    rejected: Sequence[str] = (),
) -> InboundMessage:
    """An `InboundMessage` for a taxpayer's message (text, or files with a caption)."""
    user = message.from_user
    return InboundMessage(
        channel=CHANNEL,
        chat_id=str(message.chat.id),
        user_id=str(user.id) if user else str(message.chat.id),
        text=text,
        message_id=str(message.message_id),
        files=tuple(files),
        rejected_files=tuple(rejected),
        language_code=user.language_code if user else None,
    )


def from_button(query: CallbackQuery, chat_id: int, payload: str) -> InboundMessage:
    """An `InboundMessage` for a pressed button (its payload as text)."""
    message_id = str(query.message.message_id) if query.message is not None else None
    return InboundMessage(
        channel=CHANNEL,
        chat_id=str(chat_id),
        user_id=str(query.from_user.id),
        text=payload,
        message_id=message_id,
        is_button=True,
        language_code=query.from_user.language_code,
    )
