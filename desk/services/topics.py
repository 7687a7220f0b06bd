"""The desk's side of the staff supergroup: which forum topic belongs to which conversation,
the messages relayed between a taxpayer's chat and its topic, and the outbox rows that carry
the relay (channel `telegram_staff`, one ordered stream per conversation).

Rows of the staff channel are written in the same transaction as the change that causes them
(the hand-over to staff, a relayed message); `bot.topics.StaffTopicSender` delivers them,
creating the topic on first need. Staff are linked by their Telegram user id
(`staff_member.telegram_user_id`, `main.py staff add NAME --telegram-id N`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from desk import repositories as repo
from desk.errors import NotFound
from desk.models import (
    Case,
    Conversation,
    Outbox,
    RelayedMessage,
    StaffMember,
    StaffTopic,
    Taxpayer,
    TaxpayerTaxId,
)
from desk.services.core import DeskCore
from desk.services.permissions import state_actions
from desk.states import ACTIVE_STATUSES, CLOSED_STATUSES
from taxrules.masking import mask_taxpayer_id
from taxrules.periods import describe_period

#: The outbox channel of the staff supergroup; its rows' `chat_id` is the conversation id.
STAFF_CHANNEL = "telegram_staff"
#: The `chat_id` of staff rows for the group's General topic (not a conversation's topic).
DIGEST_CHAT = "general"
DIGEST_LIMIT = 50  # cases in the morning digest, as in `/queue`
HANDED_BACK = {
    "zh_hans": "工作人员已结束人工服务，接下来由智能助手为您服务。"
    "如需再次转人工，请发送「转人工」。",
    "zh_hant": "工作人員已結束人工服務，接下來由智能助手為您服務。"
    "如需再次轉人工，請發送「轉人工」。",
}
#: What the taxpayer is told when a staff member writes in the topic of a conversation the
#: bot had: the staff member takes it over.
TAKEN_OVER = {
    "zh_hans": "工作人员{name}为您服务，请直接在这里回复。",
    "zh_hant": "工作人員{name}為您服務，請直接在這裡回覆。",
}


@dataclass(frozen=True, slots=True)
class RelayedToTaxpayer:
    """A staff message queued for the taxpayer; `took_over`: the conversation was with the
    bot and is now with staff (the taxpayer is told first)."""

    channel: str
    chat_id: str
    took_over: bool


def staff_row(
    conversation_id: int, kind: str, payload: dict[str, Any], now: datetime, key: str | None = None
) -> Outbox:
    """An outbox row for the conversation's staff topic (delivered in order per conversation)."""
    return Outbox(
        kind=kind,
        payload={"conversation_id": conversation_id, **payload},
        channel=STAFF_CHANNEL,
        chat_id=str(conversation_id),
        idempotency_key=key or f"staff:{conversation_id}:{kind}:{uuid.uuid4().hex}",
        next_attempt_at=now,
        created_at=now,
    )


def chat_row(
    conv: Conversation, kind: str, payload: dict[str, Any], now: datetime, key: str
) -> Outbox:
    """An outbox row for the taxpayer's own chat (delivered in order per chat)."""
    return Outbox(
        kind=kind,
        payload=payload,
        channel=conv.channel,
        chat_id=conv.chat_id,
        idempotency_key=key,
        next_attempt_at=now,
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class CardCase:
    """An open case on the topic's card."""

    number: str
    title: str
    status: str
    deadline_at: datetime | None


@dataclass(frozen=True, slots=True)
class TopicCard:
    """What the pinned card at the top of a conversation's topic shows."""

    conversation_id: int
    display_name: str
    masked_tax_id: str | None
    state: str
    cases: list[CardCase] = field(default_factory=list)
    channel: str = ""  # the taxpayer's chat, where the dialogue's tracker is found
    chat_id: str = ""
    verified: bool | None = None  # the chat is verified for that taxpayer ID (None: no ID)


class StaffTopics(DeskCore):
    """Topics of the staff supergroup and the relay between them and the taxpayers' chats."""

    async def staff_topic(self, conversation_id: int) -> int | None:
        """The thread id of the conversation's topic, or None when it has none (yet)."""
        thread = await self.session.scalar(
            select(StaffTopic.thread_id).where(StaffTopic.conversation_id == conversation_id)
        )
        await self._commit()
        return int(thread) if thread is not None else None

    async def save_staff_topic(
        self, conversation_id: int, staff_chat_id: int, thread_id: int
    ) -> int:
        """Remember the topic just created; returns the topic the conversation keeps (another
        process may have saved one first: then that one, and the caller drops its own)."""
        try:
            async with self.session.begin_nested():
                self.session.add(
                    StaffTopic(
                        conversation_id=conversation_id,
                        staff_chat_id=staff_chat_id,
                        thread_id=thread_id,
                        created_at=self.now(),
                    )
                )
                await self.session.flush()
        except IntegrityError:
            pass
        kept = await self.session.scalar(
            select(StaffTopic.thread_id).where(StaffTopic.conversation_id == conversation_id)
        )
        await self._commit()
        if kept is None:
            raise NotFound(f"conversation {conversation_id}")
        return int(kept)

    async def set_topic_card(self, conversation_id: int, message_id: int) -> None:
        """Remember the pinned card of the conversation's topic (to refresh it later)."""
        topic = await self.session.get(StaffTopic, conversation_id)
        if topic is not None:
            topic.card_message_id = message_id
        await self._commit()

    async def topic_card_message(self, conversation_id: int) -> int | None:
        """The pinned card's message id, or None."""
        found = await self.session.scalar(
            select(StaffTopic.card_message_id).where(StaffTopic.conversation_id == conversation_id)
        )
        await self._commit()
        return int(found) if found is not None else None

    async def forget_staff_topic(self, conversation_id: int, thread_id: int) -> None:
        """The topic is gone (deleted or closed by hand): the next need creates a new one."""
        await self.session.execute(
            delete(StaffTopic).where(
                StaffTopic.conversation_id == conversation_id, StaffTopic.thread_id == thread_id
            )
        )
        await self._commit()

    async def conversation_of_topic(self, staff_chat_id: int, thread_id: int) -> int | None:
        """The conversation whose topic this is, or None (the General topic, an unknown one)."""
        conv = await self.session.scalar(
            select(StaffTopic.conversation_id).where(
                StaffTopic.staff_chat_id == staff_chat_id, StaffTopic.thread_id == thread_id
            )
        )
        await self._commit()
        return int(conv) if conv is not None else None

    async def topic_card(self, conversation_id: int) -> TopicCard:
        """The card of a conversation's topic: the taxpayer, the masked taxpayer ID last used
        and whether the chat is verified for it, the open cases with their deadlines, the
        state (bot / human)."""
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            await self._commit()
            raise NotFound(f"conversation {conversation_id}")
        taxpayer = await self.session.get(Taxpayer, conv.taxpayer_id)
        tax_id = await self.session.scalar(
            select(TaxpayerTaxId.tax_id)
            .where(TaxpayerTaxId.taxpayer_id == conv.taxpayer_id)
            .order_by(TaxpayerTaxId.last_used_at.desc())
            .limit(1)
        )
        cases = list(
            await self.session.scalars(
                select(Case)
                .where(Case.taxpayer_id == conv.taxpayer_id, Case.status.not_in(CLOSED_STATUSES))
                .order_by(Case.opened_at)
            )
        )
        card = TopicCard(
            conversation_id=conv.id,
            display_name=(taxpayer.display_name if taxpayer else None) or f"纳税人 {conv.id}",
            masked_tax_id=mask_taxpayer_id(tax_id) if tax_id else None,
            state=conv.state,
            cases=[
                CardCase(c.number, self.case_title(c.case_type), c.status, c.deadline_at)
                for c in cases
            ],
            channel=conv.channel,
            chat_id=conv.chat_id,
            verified=(await repo.verification(self.session, conv.taxpayer_id, tax_id)) is not None
            if tax_id
            else None,
        )
        await self._commit()
        return card

    def case_title(self, case_type: str) -> str:
        """The case type's title (Simplified), or its key when the catalog lacks it."""
        try:
            return self.catalog.get(case_type).title.zh_hans
        except Exception:
            return case_type

    async def relay_to_staff(
        self, channel: str, chat_id: str, messages: list[tuple[int, str | None, int | None]]
    ) -> int:
        """While the chat's conversation is with staff, queue its messages (`(message id,
        caption of a photo or document or None, the message id it quotes or None)`) to be
        copied into its topic (a quote follows the mapped message); returns how many were
        queued."""
        conv = await self.session.scalar(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.chat_id == chat_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        if conv is None or conv.state != "human":
            await self._commit()
            return 0
        closed = self.office_closed()
        for message_id, caption, quoted in messages:
            quoted_copy = None
            if quoted is not None:
                quoted_copy = await self.session.scalar(
                    select(RelayedMessage.staff_message_id)
                    .where(
                        RelayedMessage.conversation_id == conv.id,
                        RelayedMessage.taxpayer_message_id == quoted,
                    )
                    .order_by(RelayedMessage.id.desc())
                    .limit(1)
                )
            self.session.add(
                staff_row(
                    conv.id,
                    "staff_relay",
                    {
                        "from_chat_id": chat_id,
                        "message_id": message_id,
                        "caption": caption,
                        "reply_to": int(quoted_copy) if quoted_copy is not None else None,
                        "closed": closed,
                    },
                    self.now(),
                    key=f"staff:{conv.id}:relay:{message_id}",
                )
            )
        try:
            await self._commit()
        except IntegrityError:  # relayed before (a repeated update)
            return 0
        return len(messages)

    async def relay_text_to_staff(
        self, channel: str, chat_id: str, text: str | None, files: list[str] | None = None
    ) -> bool:
        """While a conversation of a channel without Telegram message ids (the web chat) is
        with staff and has a staff topic (or one on its way), queue the taxpayer's message
        as text for the topic (`staff_relay_text`: the words and the names of the files,
        which staff open in the console). False when nothing was queued."""
        conv = await self.session.scalar(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.chat_id == chat_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        if conv is None or conv.state != "human" or not await self._has_topic(conv.id):
            await self._commit()
            return False
        self.session.add(
            staff_row(
                conv.id,
                "staff_relay_text",
                {"text": text or "", "files": list(files or []), "closed": self.office_closed()},
                self.now(),
            )
        )
        await self._commit()
        return True

    async def _has_topic(self, conversation_id: int) -> bool:
        """The conversation has a staff topic, or one is on its way (a staff row waits for
        the staff sender, which creates the topic on first need)."""
        if await self.session.get(StaffTopic, conversation_id) is not None:
            return True
        pending = await self.session.scalar(
            select(Outbox.id)
            .where(Outbox.channel == STAFF_CHANNEL, Outbox.chat_id == str(conversation_id))
            .limit(1)
        )
        return pending is not None

    async def _take_over(
        self, conv: Conversation, member: StaffMember, key: str, *, card: bool | None = None
    ) -> bool:
        """In the caller's transaction: a conversation the bot has becomes `human`, the
        taxpayer is told "工作人员XX为您服务" (row `taken_over`, key `key`) and the topic's card
        is refreshed (`card`: the conversation has a topic; None: look). False when staff
        had it already."""
        if conv.state == "human":
            return False
        conv.state = "human"
        conv.updated_at = self.now()
        if card if card is not None else await self._has_topic(conv.id):
            self.session.add(staff_row(conv.id, "staff_card", {}, self.now()))
        self.session.add(
            chat_row(
                conv,
                "taken_over",
                {
                    "text": {k: v.format(name=member.name) for k, v in TAKEN_OVER.items()},
                    "staff_id": member.id,
                },
                self.now(),
                key,
            )
        )
        await self.session.flush()  # the notice's id comes before what follows
        return True

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
    ) -> RelayedToTaxpayer:
        """Queue a staff member's topic message to be copied to the taxpayer (the `telegram`
        outbox; recorded as an outbound message of the conversation when delivered). A
        quote-reply (`reply_to`, a topic message) follows the mapped message to the
        taxpayer's side. `album`: the message ids of an album (with `message_id` among
        them), copied as one album (`message_ids` in the row).

        A staff member writing to a conversation the bot has takes it over (the office's
        rule: whoever writes to the taxpayer answers for the conversation): in the same
        transaction the state becomes `human`, the taxpayer is told "工作人员XX为您服务"
        before the copy, and the topic's card is refreshed."""
        member = await self._staff(staff_id)
        await self._authorize(member, "reply")
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        took_over = await self._take_over(
            conv, member, f"taken_over:{staff_chat_id}:{message_id}", card=True
        )
        quoted = None
        if reply_to is not None:
            quoted = await self.session.scalar(
                select(RelayedMessage.taxpayer_message_id)
                .where(
                    RelayedMessage.conversation_id == conv.id,
                    RelayedMessage.staff_chat_id == staff_chat_id,
                    RelayedMessage.staff_message_id == reply_to,
                )
                .order_by(RelayedMessage.id.desc())
                .limit(1)
            )
        self.session.add(
            chat_row(
                conv,
                "staff_copy",
                {
                    "conversation_id": conv.id,
                    "from_chat_id": staff_chat_id,
                    "message_id": message_id,
                    "staff_id": staff_id,
                    "reply_to": int(quoted) if quoted is not None else None,
                    "text": text,
                    **({"message_ids": sorted(album)} if album else {}),
                },
                self.now(),
                f"staff_copy:{staff_chat_id}:{message_id}",
            )
        )
        done = RelayedToTaxpayer(conv.channel, conv.chat_id, took_over)
        try:
            await self._commit()
        except IntegrityError:  # the same staff message twice (a repeated update)
            return RelayedToTaxpayer(done.channel, done.chat_id, False)
        return done

    async def relay_edit_to_staff(
        self, channel: str, chat_id: str, message_id: int, text: str
    ) -> bool:
        """The taxpayer edited a message that was copied into the staff topic: queue the same
        edit of the copy; False when it was never relayed."""
        conv = await self.session.scalar(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.chat_id == chat_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        copy = None
        if conv is not None:
            copy = await self.session.scalar(
                select(RelayedMessage.staff_message_id)
                .where(
                    RelayedMessage.conversation_id == conv.id,
                    RelayedMessage.taxpayer_message_id == message_id,
                    RelayedMessage.direction == "to_staff",
                )
                .order_by(RelayedMessage.id.desc())
                .limit(1)
            )
        if conv is None or copy is None:
            await self._commit()
            return False
        self.session.add(
            staff_row(conv.id, "staff_edit", {"message_id": int(copy), "text": text}, self.now())
        )
        await self._commit()
        return True

    async def relay_edit_to_taxpayer(self, staff_chat_id: int, message_id: int, text: str) -> bool:
        """A staff member edited a relayed topic message: queue the same edit of its copy in
        the taxpayer's chat; False when the message was never relayed."""
        row = (
            await self.session.execute(
                select(RelayedMessage.conversation_id, RelayedMessage.taxpayer_message_id)
                .where(
                    RelayedMessage.staff_chat_id == staff_chat_id,
                    RelayedMessage.staff_message_id == message_id,
                    RelayedMessage.direction == "to_taxpayer",
                )
                .order_by(RelayedMessage.id.desc())
                .limit(1)
            )
        ).first()
        payload: dict[str, Any]
        if row is not None:
            conv = await self.session.get(Conversation, row[0])
            payload = {"message_id": int(row[1])}
        else:
            # Edited before its copy was recorded (the copy is still in the outbox, or being
            # sent): the sender finds the copy when the edit's turn comes, which per-chat
            # order puts after the copy.
            copy = await self.session.scalar(
                select(Outbox).where(
                    Outbox.idempotency_key == f"staff_copy:{staff_chat_id}:{message_id}",
                    Outbox.status != "failed",
                )
            )
            conv = (
                await self.session.get(Conversation, int(copy.payload["conversation_id"]))
                if copy is not None
                else None
            )
            payload = {"staff_chat_id": staff_chat_id, "staff_message_id": message_id}
        if conv is None:
            await self._commit()
            return False
        self.session.add(
            chat_row(
                conv,
                "staff_edit",
                {"conversation_id": conv.id, **payload, "text": text},
                self.now(),
                f"staff_edit:{staff_chat_id}:{message_id}:{uuid.uuid4().hex}",
            )
        )
        await self._commit()
        return True

    async def hand_back_to_bot(self, conversation_id: int, staff_id: int) -> bool:
        """Staff end the human service (`/bot` in the topic, or the console): the state
        becomes `bot` and the taxpayer is told (outbox); the topic's card follows when the
        conversation has one. False when the conversation was not with staff. Any active
        staff member may (`permissions`: `hand_back`)."""
        member = await self._staff(staff_id)
        await self._authorize(member, "hand_back")
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        if conv.state != "human":
            await self._commit()
            return False
        conv.state = "bot"
        conv.updated_at = self.now()
        if await self._has_topic(conv.id):  # the card's state (from the topic, or the console)
            self.session.add(staff_row(conv.id, "staff_card", {}, self.now()))
        self.session.add(
            chat_row(
                conv,
                "handed_back",
                {"text": dict(HANDED_BACK), "staff_id": staff_id},
                self.now(),
                f"handed_back:{conv.id}:{uuid.uuid4().hex}",
            )
        )
        await self._commit()
        return True

    async def announce_case(self, number: str) -> bool:
        """Queue the announcement of a submitted case in its conversation's staff topic (with
        claim / release buttons); False when the case has no conversation."""
        case = await self.session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise await self._fail(NotFound(f"case {number}"))
        if case.conversation_id is None:
            await self._commit()
            return False
        self.session.add(
            staff_row(
                case.conversation_id,
                "staff_case",
                {
                    "case_number": case.number,
                    "title": self.case_title(case.case_type),
                    "period": describe_period((case.slots or {}).get("tax_period")) or None,
                    "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
                    "actions": state_actions(case.status, assigned=case.assignee_id is not None),
                    "verified": await repo.from_verified_chat(self.session, case),
                },
                self.now(),
                key=f"staff:case:{case.number}:announced",
            )
        )
        # then the card and the topic's name follow (the new case), as a row of its own
        self.session.add(
            staff_row(
                case.conversation_id,
                "staff_card",
                {},
                self.now(),
                key=f"staff:case:{case.number}:announced:card",
            )
        )
        try:
            await self._commit()
        except IntegrityError:  # announced before
            return False
        return True

    async def queue_digest(self, at: time) -> bool:
        """Write today's queue digest for the General topic of the staff group once: on a
        working day of the calendar (a 调休 Saturday too; no weekend or holiday), from `at`
        (local time of the calendar) on. The content (new, due-soon and overdue cases) is
        taken now, into the row's payload. True when this call wrote it; several processes
        may call at once (the row's idempotency key `digest:YYYY-MM-DD` is unique)."""
        local = self.now().astimezone(self.calendar.tz)
        if not self.calendar.is_working_day(local.date()) or local.time() < at:
            await self._commit()
            return False
        key = f"digest:{local.date().isoformat()}"
        if await self.session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)):
            await self._commit()
            return False
        cases = await repo.queue(self.session, status=None, limit=DIGEST_LIMIT)
        items = []
        for c in cases:
            due = (
                str(self.calendar.due_state(c.deadline_at, self.now()))
                if c.deadline_at is not None and c.status in ACTIVE_STATUSES
                else None
            )
            items.append(
                {
                    "number": c.number,
                    "title": self.case_title(c.case_type),
                    "status": c.status,
                    "deadline_at": c.deadline_at.isoformat() if c.deadline_at else None,
                    "due": due,
                }
            )
        self.session.add(
            Outbox(
                kind="queue_digest",
                payload={"day": local.date().isoformat(), "cases": items},
                channel=STAFF_CHANNEL,
                chat_id=DIGEST_CHAT,
                idempotency_key=key,
                next_attempt_at=self.now(),
                created_at=self.now(),
            )
        )
        try:
            await self._commit()
        except IntegrityError:  # another process wrote it first
            return False
        return True

    async def refresh_case_card(self, number: str) -> bool:
        """Queue a refresh of the pinned card of the case's topic (after a staff step changed
        the case); False when the case's conversation has no topic."""
        case = await self.session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise await self._fail(NotFound(f"case {number}"))
        conv_id = case.conversation_id
        if conv_id is None or await self.session.get(StaffTopic, conv_id) is None:
            await self._commit()
            return False
        self.session.add(staff_row(conv_id, "staff_card", {}, self.now()))
        await self._commit()
        return True

    async def record_relay(
        self,
        conversation_id: int,
        direction: str,
        taxpayer_message_id: int,
        staff_chat_id: int,
        staff_message_id: int,
    ) -> None:
        """Remember which message of one side is the copy of which on the other."""
        self.session.add(
            RelayedMessage(
                conversation_id=conversation_id,
                direction=direction,
                taxpayer_message_id=taxpayer_message_id,
                staff_chat_id=staff_chat_id,
                staff_message_id=staff_message_id,
                created_at=self.now(),
            )
        )
        await self._commit()

    async def staff_copy_of(self, conversation_id: int, taxpayer_message_id: int) -> int | None:
        """The topic message that is the copy of (or the original of) a taxpayer message."""
        found = await self.session.scalar(
            select(RelayedMessage.staff_message_id)
            .where(
                RelayedMessage.conversation_id == conversation_id,
                RelayedMessage.taxpayer_message_id == taxpayer_message_id,
            )
            .order_by(RelayedMessage.id.desc())
            .limit(1)
        )
        await self._commit()
        return int(found) if found is not None else None

    async def taxpayer_copy_of(self, staff_chat_id: int, staff_message_id: int) -> int | None:
        """The taxpayer-chat message that is the copy of (or the original of) a topic message."""
        found = await self.session.scalar(
            select(RelayedMessage.taxpayer_message_id)
            .where(
                RelayedMessage.staff_chat_id == staff_chat_id,
                RelayedMessage.staff_message_id == staff_message_id,
            )
            .order_by(RelayedMessage.id.desc())
            .limit(1)
        )
        await self._commit()
        return int(found) if found is not None else None
