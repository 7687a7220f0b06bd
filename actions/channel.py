"""The contract between a channel (Telegram, web chat, terminal) and the dialogue.

A channel turns what it received into an `InboundMessage`, hands it to the dialogue and sends
the `Reply` objects it gets back. Nothing here knows about aiogram or HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Button:
    """A reply button. `payload` is fed back to the dialogue as text when pressed,
    Rasa style: `/affirm`, `/submit_case`, `/choose_case_type{"case_type": "invoice"}`."""

    title: str
    payload: str
    #: Ask the channel for the user's own phone number (Telegram's `request_contact` reply
    #: keyboard button); what the user shares comes back as `InboundMessage.contact`.
    request_contact: bool = False


@dataclass(frozen=True, slots=True)
class SharedContact:
    """A contact card the channel received (never built from typed text): its phone number
    and the channel user it belongs to (None when the card is not a user of the channel)."""

    phone: str
    user_id: str | None


@dataclass(frozen=True, slots=True)
class InboundFile:
    """A file the channel already checked and stored (`intake.documents`, `intake.storage`)."""

    attachment_id: int
    media_type: str
    original_name: str | None
    size: int
    page_count: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing the taxpayer did: a text, a button press, or a file or album (with caption)."""

    channel: str  # "telegram", "web", "shell"
    chat_id: str  # the channel's chat id, as text
    user_id: str  # the channel's user id, as text
    text: str | None = None
    message_id: str | None = None
    files: tuple[InboundFile, ...] = ()
    rejected_files: tuple[str, ...] = ()  # user-facing reasons for files refused by the checks
    is_button: bool = False
    language_code: str | None = None  # what the client reports, e.g. "zh-hans", "zh-hant"
    contact: SharedContact | None = None  # a shared contact card (the channel's own field)


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """A file the bot sends (the commitment-letter template): a file on the server's disk
    (`path`, absolute) and the name the taxpayer sees (`name`)."""

    path: str
    name: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to send back. `buttons` are rows of buttons; with `document`, the file is
    sent and `text` is its caption (a channel sends a caption too long for it as a text).
    `kinds` names what the message says, in order: the domain response of each part
    (`utter_ask_tax_period`), or the action that wrote a free text; channels ignore it, tests
    and the conversation benchmark read it."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    document: OutboundFile | None = None
    kinds: tuple[str, ...] = ()
    remove_keyboard: bool = False  # take away a reply keyboard shown before (contact button)


#: A channel's "send these replies now": awaited by the dialogue while it still holds the
#: chat's turn, so the replies of one chat go out in the order its messages came in.
Deliver = Callable[[list[Reply]], Awaitable[None]]


#: The chat commands every channel offers (Telegram's menu, typed in the web chat or the
#: shell): command -> (menu description, payload fed to the dialogue).
COMMANDS: dict[str, tuple[str, str]] = {
    "start": ("开始 / 開始", "/greet"),
    "help": ("能办什么 / 能辦什麼", "/help"),
    "status": ("查询办理进度 / 查詢辦理進度", "/check_status"),
    "cancel": ("取消当前事项 / 取消當前事項", "/cancel_request"),
    "human": ("转人工 / 轉人工", "/request_human"),
}


def command_payload(text: str) -> str | None:
    """The payload of a typed command (`/status`, `/STATUS@bot`), or None for other text."""
    if not text.startswith("/"):
        return None
    word = text.split()[0][1:].split("@")[0].lower()
    found = COMMANDS.get(word)
    return found[1] if found else None
