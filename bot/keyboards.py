"""Inline keyboards built from the dialogue's `Reply.buttons`, and what their callbacks carry.

Telegram allows 64 bytes of `callback_data`; a dialogue payload such as
`/choose_case_type{"case_type": "return_correction"}` can be longer and contains `:`, which
aiogram's `CallbackData` reserves as its separator. So the callback carries a short key
(`b:<10 chars>`, the first 60 bits of the payload's SHA-256, URL-safe base64) and the payload
is kept per chat: in the database (`desk.buttons.DeskButtonStore`, passed as
`app.container.Container.buttons`) when `REDIS_URL` is not set, or in the Redis FSM storage
(`StorageButtonStore`) when it is — either way a button keeps working after a restart and
when another process (the outbox worker) sent it. The key is content-derived: the same
payload always gets the same key, and re-sending buttons does not grow the map. The storage
map keeps the latest `MAX_BUTTONS_PER_CHAT` payloads per chat, the database map those
younger than 30 days; a press on an older button gets a polite "expired".
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from actions.channel import Button

MAX_BUTTONS_PER_CHAT = 256
BUTTONS_DESTINY = "buttons"


class ButtonCb(CallbackData, prefix="b"):
    """A dialogue button: `k` is the short key of its payload (see module docstring)."""

    k: str


def payload_key(payload: str) -> str:
    """The short, stable key of a button payload (10 URL-safe characters)."""
    digest = hashlib.sha256(payload.encode()).digest()
    return base64.urlsafe_b64encode(digest[:8]).decode()[:10]


def build_keyboard(
    rows: Sequence[Sequence[Button]],
) -> tuple[InlineKeyboardMarkup | ReplyKeyboardMarkup | None, dict[str, str]]:
    """The inline keyboard for `rows`, and the `key -> payload` map to remember. A contact
    button (`Button.request_contact`) can only live in a reply keyboard: when there is one,
    the reply keyboard of the contact buttons is returned instead (a message has one
    markup; the contact is what the reply asks for)."""
    if not rows:
        return None, {}
    contact = [b for row in rows for b in row if b.request_contact]
    if contact:
        return (
            ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text=b.title, request_contact=True)] for b in contact],
                resize_keyboard=True,
                one_time_keyboard=True,
            ),
            {},
        )
    mapping: dict[str, str] = {}
    keyboard: list[list[InlineKeyboardButton]] = []
    for row in rows:
        line = []
        for button in row:
            key = payload_key(button.payload)
            mapping[key] = button.payload
            line.append(
                InlineKeyboardButton(text=button.title, callback_data=ButtonCb(k=key).pack())
            )
        if line:
            keyboard.append(line)
    if not keyboard:
        return None, {}
    return InlineKeyboardMarkup(inline_keyboard=keyboard), mapping


class StorageButtonStore:
    """`ButtonStore` kept in aiogram's FSM storage under a separate destiny.

    With Redis the storage must be built with `DefaultKeyBuilder(with_destiny=True)` so the
    map does not overwrite the FSM data (`app.telegram.build_storage` does that).
    """

    def __init__(self, storage: BaseStorage, bot_id: int) -> None:
        self._storage = storage
        self._bot_id = bot_id

    def _key(self, chat_id: int) -> StorageKey:
        return StorageKey(
            bot_id=self._bot_id, chat_id=chat_id, user_id=chat_id, destiny=BUTTONS_DESTINY
        )

    async def put(self, chat_id: int, payloads: dict[str, str]) -> None:
        """Remember `payloads`, dropping the oldest beyond `MAX_BUTTONS_PER_CHAT`."""
        if not payloads:
            return
        key = self._key(chat_id)
        data = dict(await self._storage.get_data(key))
        for k, v in payloads.items():
            data.pop(k, None)  # re-insert so it counts as the newest
            data[k] = v
        while len(data) > MAX_BUTTONS_PER_CHAT:
            data.pop(next(iter(data)))
        await self._storage.set_data(key, data)

    async def get(self, chat_id: int, key: str) -> str | None:
        """The payload for `key`, or None."""
        data = await self._storage.get_data(self._key(chat_id))
        value = data.get(key)
        return value if isinstance(value, str) else None


class StaffCaseCb(CallbackData, prefix="sc"):
    """A button under a case announced in the staff group: `a` is the step (claim, release,
    ask, complete, reject), `n` the case number."""

    a: str
    n: str


#: desk action (`desk.services.permissions.TOPIC_ACTIONS`) -> (button step, label)
STAFF_CASE_BUTTONS = {
    "claim": ("claim", "认领"),
    "release": ("release", "放回队列"),
    "ask_taxpayer": ("ask", "补充询问"),
    "complete": ("complete", "办结"),
    "reject": ("reject", "退回"),
}


def staff_case_keyboard(number: str, actions: Sequence[str]) -> InlineKeyboardMarkup | None:
    """The buttons under a case announced in its staff topic: `actions` (desk names, in
    order; unknown ones skipped), at most three a row; None when there is none."""
    buttons = [
        InlineKeyboardButton(text=label, callback_data=StaffCaseCb(a=step, n=number).pack())
        for step, label in (STAFF_CASE_BUTTONS[a] for a in actions if a in STAFF_CASE_BUTTONS)
    ]
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    )
