"""One dialogue turn per inbound message, one at a time per chat.

Updates are handled concurrently (polling runs each in a task, the webhook too), but two
messages of one taxpayer must reach the dialogue in order and their replies must not
interleave. The dialogue holds the one per-chat lock of a turn (`DialogueEngine.handle`);
`TurnRunner` hands it the sending as `deliver`, so "dialogue, then send" runs under that
lock. Albums are collected before the turn starts, so their items can still arrive in
parallel.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import Message

from actions.channel import InboundMessage, Reply
from bot.ports import Dialogue, OutboundStore, StaffRelay
from bot.sender import ReplySender

log = logging.getLogger(__name__)


class TurnRunner:
    """Runs the dialogue for an inbound message and sends its replies, in chat order."""

    def __init__(
        self,
        dialogue: Dialogue,
        replies: ReplySender,
        outbound: OutboundStore | None = None,
        relay: StaffRelay | None = None,
    ) -> None:
        """`relay`: with a staff supergroup, where the taxpayer's messages go while staff
        own the conversation (queued still under the chat's turn, so in order)."""
        self.dialogue = dialogue
        self.replies = replies
        self.outbound = outbound
        self.relay = relay

    async def run(
        self,
        bot: Bot,
        inbound: InboundMessage,
        *,
        originals: list[tuple[int, str | None, int | None]] | None = None,
    ) -> list[Message]:
        """One turn; the messages sent (recorded as outbound rows when there is a store).
        `originals`: the Telegram messages of the turn, `(message id, caption of a photo or
        document, the message id it quotes)` (an album has several); by default the
        inbound message itself."""
        sent: list[Message] = []

        async def deliver(out: list[Reply]) -> None:
            sent.extend(await self.replies.send(bot, int(inbound.chat_id), out))
            if self.outbound is not None and sent:
                try:
                    await self.outbound.record_sent(
                        inbound.channel,
                        inbound.chat_id,
                        [(m.text or m.caption, str(m.message_id)) for m in sent],
                    )
                except Exception:  # already sent: losing the copy must not fail the turn
                    log.exception("replies sent but not recorded")

        async def with_staff() -> None:
            await self._relay(inbound, originals)

        # The relay is asked for only when the turn ends with staff (the dialogue knows the
        # state from its tracker): a conversation with the bot costs no staff lookup.
        await self.dialogue.handle(
            inbound, deliver=deliver, with_staff=with_staff if self.relay is not None else None
        )
        return sent

    async def _relay(
        self, inbound: InboundMessage, originals: list[tuple[int, str | None, int | None]] | None
    ) -> None:
        assert self.relay is not None
        if originals is None:
            if inbound.message_id is None or inbound.is_button:
                return
            originals = [(int(inbound.message_id), None, None)]
        try:
            await self.relay.relay_to_staff(inbound.channel, inbound.chat_id, originals)
        except Exception:  # the message is stored; staff see it in the desk
            log.exception("message of %s not relayed to the staff topic", inbound.channel)
