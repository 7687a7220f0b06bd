"""The desk's services for conversations: a channel chat's conversation, its state (bot or
staff), what the taxpayer wrote in it, and the taxpayer IDs taxpayers used."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from desk import notices
from desk import repositories as repo
from desk.errors import NotFound
from desk.models import ChannelIdentity, Conversation, FollowUp, Message, Outbox, Taxpayer
from desk.outbox import NOTIFY_CHANNEL, OutboxItem, conversation_of
from desk.services.core import ConversationState, DeskCore, valid_tax_id
from desk.services.topics import staff_row
from taxrules.masking import mask_taxpayer_id

log = logging.getLogger(__name__)


class Conversations(DeskCore):
    """Taxpayers, their chats and their taxpayer IDs."""

    async def ensure_conversation(
        self, channel: str, channel_user_id: str, chat_id: str, *, display_name: str | None = None
    ) -> Conversation:
        """The taxpayer's conversation on this channel, creating taxpayer, identity and
        conversation on first contact (safe when two updates of a new user race)."""
        for _attempt in range(3):
            ident = await repo.identity(self.session, channel, channel_user_id)
            if ident is None:
                try:
                    async with self.session.begin_nested():
                        taxpayer = Taxpayer(display_name=display_name, created_at=self.now())
                        self.session.add(taxpayer)
                        await self.session.flush()
                        ident = ChannelIdentity(
                            taxpayer_id=taxpayer.id,
                            channel=channel,
                            channel_user_id=channel_user_id,
                            created_at=self.now(),
                        )
                        self.session.add(ident)
                        await self.session.flush()
                except IntegrityError:
                    continue
            conv = await repo.conversation_of(self.session, ident.taxpayer_id, channel)
            if conv is None:
                try:
                    async with self.session.begin_nested():
                        conv = Conversation(
                            taxpayer_id=ident.taxpayer_id,
                            channel=channel,
                            chat_id=chat_id,
                            state="bot",
                            created_at=self.now(),
                            updated_at=self.now(),
                        )
                        self.session.add(conv)
                        await self.session.flush()
                except IntegrityError:
                    continue
            elif conv.chat_id != chat_id:
                conv.chat_id = chat_id
            await self._commit()
            return conv
        raise RuntimeError("could not create the conversation (concurrent inserts)")

    async def find_conversation(self, channel: str, chat_id: str) -> Conversation | None:
        """The conversation of a channel chat (the latest, should there be several), or None
        if the desk has never seen the chat."""
        conv = await self.session.scalar(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.chat_id == chat_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        await self._commit()
        return conv

    async def conversation_state(self, conversation_id: int) -> ConversationState:
        """`human` while staff own the conversation, else `bot` (also for an unknown id)."""
        state = await self.session.scalar(
            select(Conversation.state).where(Conversation.id == conversation_id)
        )
        await self._commit()
        return "human" if state == "human" else "bot"

    async def set_conversation_state(
        self,
        conversation_id: int,
        state: ConversationState,
        *,
        thread_id: str | None = None,
        alert_staff: bool = False,
        reason: str | None = None,
    ) -> Conversation:
        """Hand the conversation to staff (`human`) or back to the bot (`bot`). With
        `alert_staff` (a staff supergroup is set up), a hand-over also writes, in the same
        transaction, the alert for the conversation's staff topic (`desk.services.topics`)."""
        if state not in ("bot", "human"):
            raise ValueError(f"conversation state must be bot or human, not {state!r}")
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id}")
        if alert_staff and state == "human" and conv.state != "human":
            self.session.add(
                staff_row(
                    conv.id,
                    "staff_handoff",
                    {"reason": reason or "", "closed": self.office_closed()},
                    self.now(),
                )
            )
        conv.state = state
        if thread_id is not None:
            conv.staff_thread_id = thread_id
        conv.updated_at = self.now()
        await self._commit()
        return conv

    async def record_complaint(
        self, conversation_id: int, text: str, *, working_days: int, alert_staff: bool = False
    ) -> FollowUp:
        """A complaint made in a chat: an open follow-up (kind `complaint`) for a supervisor,
        due at the close of the office day `working_days` working days from now (holiday
        calendar). With `alert_staff` (a staff supergroup), the conversation's topic gets it
        (`staff_complaint`) in the same transaction. The conversation stays as it is."""
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id}")
        now = self.now()
        due = self.calendar.add_working_days(now, max(1, working_days))
        follow_up = FollowUp(
            kind="complaint",
            conversation_id=conv.id,
            text=text,
            status="open",
            due_at=due,
            created_at=now,
        )
        self.session.add(follow_up)
        await self.session.flush()
        if alert_staff:
            self.session.add(
                staff_row(
                    conv.id,
                    "staff_complaint",
                    {
                        "follow_up_id": follow_up.id,
                        "text": text,
                        "due_at": due.isoformat(),
                        "closed": self.office_closed(),
                    },
                    now,
                )
            )
        await self._commit()
        return follow_up

    async def idle_human_conversations(
        self, idle: timedelta, *, limit: int = 100
    ) -> list[tuple[int, datetime]]:
        """Conversations handed to staff (`human`) in which nothing happened for `idle`: no
        message either way (the taxpayer's, the bot's, staff's relayed ones) and no change of
        the conversation row for at least `idle`. Returns `(id, last activity)`, oldest first."""
        cutoff = self.now() - idle
        last_message = (
            select(func.max(Message.created_at))
            .where(Message.conversation_id == Conversation.id)
            .scalar_subquery()
        )
        rows = (
            await self.session.execute(
                select(Conversation.id, Conversation.updated_at, last_message)
                .where(Conversation.state == "human", Conversation.updated_at <= cutoff)
                .order_by(Conversation.updated_at, Conversation.id)
            )
        ).all()
        await self._commit()
        out: list[tuple[int, datetime]] = []
        for conv_id, updated, latest in rows:
            last = max(updated, latest) if latest is not None else updated
            if last <= cutoff:
                out.append((int(conv_id), last))
            if len(out) >= limit:
                break
        return out

    async def return_idle_to_bot(self, idle: timedelta, *, limit: int = 100) -> list[int]:
        """Give every conversation idle for `idle` (see `idle_human_conversations`) back to
        the bot: its state becomes `bot` and a `conversation_back_to_bot` notice for the
        taxpayer is queued in the outbox, in one transaction per conversation. A
        conversation that changed meanwhile (a message, staff, another sweeper) is left
        alone, so two sweepers never send the notice twice. Returns the ids flipped."""
        minutes = max(1, round(idle.total_seconds() / 60))
        flipped: list[int] = []
        for conv_id, last in await self.idle_human_conversations(idle, limit=limit):
            if await self._back_to_bot_if_idle(conv_id, last, idle, minutes):
                flipped.append(conv_id)
        return flipped

    async def _back_to_bot_if_idle(
        self, conv_id: int, last: datetime, idle: timedelta, minutes: int
    ) -> bool:
        now = self.now()
        cutoff = now - idle
        newer = (
            select(Message.id)
            .where(Message.conversation_id == conv_id, Message.created_at > cutoff)
            .exists()
        )
        result = await self.session.execute(
            update(Conversation)
            .where(
                Conversation.id == conv_id,
                Conversation.state == "human",
                Conversation.updated_at <= cutoff,
                ~newer,
            )
            .values(state="bot", updated_at=now)
            .returning(Conversation.channel, Conversation.chat_id)
            .execution_options(synchronize_session=False)
        )
        row = result.first()
        if row is None:  # written to, handed back or swept meanwhile
            await self._commit()
            return False
        channel, chat_id = row
        self.session.add(
            Outbox(
                kind="conversation_back_to_bot",
                payload=notices.back_to_bot("idle", idle_minutes=minutes),
                channel=channel,
                chat_id=chat_id,
                idempotency_key=f"conversation:{conv_id}:back_to_bot:{last.isoformat()}",
                next_attempt_at=now,
                created_at=now,
            )
        )
        await self.session.flush()
        if self._dialect() == "postgresql":  # wakes outbox workers when this commits
            await self.session.execute(
                text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL}
            )
        await self._commit()
        log.info("conversation %s back to the bot after %s idle minutes", conv_id, minutes)
        return True

    async def recent_inbound_texts(self, item: OutboxItem, *, limit: int = 10) -> list[str | None]:
        """The latest texts (newest first) the taxpayer sent in the conversation an outbox
        row goes to; empty when the row has no conversation."""
        texts: list[str | None] = []
        conv_id = await conversation_of(self.session, item)
        if conv_id is not None:
            texts = list(
                await self.session.scalars(
                    select(Message.text)
                    .where(Message.conversation_id == conv_id, Message.direction == "in")
                    .order_by(Message.created_at.desc(), Message.id.desc())
                    .limit(limit)
                )
            )
        await self._commit()
        return texts

    async def remember_taxpayer_id(self, taxpayer_id: int, code: str) -> str:
        """Validate a taxpayer ID (check digit) and remember the taxpayer used it.
        Returns the canonical form; raises `InvalidTaxpayerId`."""
        value = valid_tax_id(code)
        await self._remember_tax_id(taxpayer_id, value)
        await self._commit()
        return value

    async def taxpayer_for_tax_id(self, code: str) -> Taxpayer:
        """The taxpayer who last used this taxpayer ID, or a new one (requests by phone)."""
        value = valid_tax_id(code)
        rows = await repo.taxpayer_ids_by_tax_id(self.session, value)
        if rows:
            taxpayer = await self.session.get(Taxpayer, rows[0].taxpayer_id)
            assert taxpayer is not None
        else:
            taxpayer = Taxpayer(created_at=self.now())
            self.session.add(taxpayer)
            await self.session.flush()
        await self._remember_tax_id(taxpayer.id, value)
        await self._commit()
        log.info("taxpayer %s for id %s", taxpayer.id, mask_taxpayer_id(value))
        return taxpayer

    async def taxpayers_using(self, tax_id: str) -> list[int]:
        """The taxpayers (row ids) who used this taxpayer ID, most recent first."""
        rows = await repo.taxpayer_ids_by_tax_id(self.session, tax_id)
        await self._commit()
        return [row.taxpayer_id for row in rows]
