"""The adapters through which the dialogue and the Telegram channel reach the desk, one
database session (or one group-commit operation) per call. They hold no SQL: every query is a
`desk.services.Desk` method, the per-update rows go through `desk.batch.WriteBatcher`.

For the dialogue (`actions.ports`):
* `DeskConversations` — maps `channel:chat_id` to the desk's conversation row (cached per
  process: conversation rows are never renumbered) and owns the process's group commit.
* `DeskCaseGateway` — `CaseGateway`; desk errors the taxpayer should read become
  `GatewayError`.
* `DeskTrackerStore` — `TrackerStore` in the conversation row's `tracker` column.

For the Telegram channel (`bot.ports`):
* `DeskInboundStore` — every update becomes a `message` row (idempotent on `update_id`),
  committed before the update is acted on.
* `DeskFileIntake` — content checks (`intake.documents`), then the sanitised bytes and the
  thumbnail go to the attachment store and an `attachment` row.
* `DeskOutboundStore` — what the bot sent, as outbound `message` rows.
* `DeskNoticeLookups` — what the notice sender (`bot.notices`) reads: the taxpayer's texts.
(`desk.buttons.DeskButtonStore` and `desk.messages.DeskAttachmentLinker` satisfy the bot's
`ButtonStore` and `AttachmentLinker` as they are.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from actions.channel import InboundFile
from actions.ports import (
    CaseSummary,
    ComplaintRecorded,
    ConversationState,
    GatewayError,
    Handoff,
    OfficeDay,
    Requester,
    SubmittedCase,
    conversation_key,
)
from actions.tracker import Tracker
from bot.ports import StaffIdentity, TopicCase, TopicFacts
from desk.batch import WriteBatcher
from desk.errors import DeskError
from desk.models import Conversation
from desk.notices import OFFICE_TZ
from desk.outbox import OutboxItem
from desk.runtime import DeskRuntime
from desk.services import Desk
from desk.services.taxpayer_cases import RECENT_LIMIT
from desk.services.taxpayer_cases import CaseSummary as DeskCaseSummary
from desk.states import CaseStatus
from intake.documents import DEFAULT_MAX_BYTES, inspect_upload_async
from intake.storage import BlobNotFoundError, LocalAttachmentStore
from taxrules.masking import mask_taxpayer_id

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ the dialogue's side


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A desk conversation: its row id and the (internal) taxpayer it belongs to."""

    id: int
    taxpayer_id: int


class DeskConversations:
    """Finds (or creates) the desk conversation of a channel chat; remembers the answer."""

    def __init__(self, runtime: DeskRuntime, *, writes: WriteBatcher | None = None) -> None:
        """`writes`: the group commit for the per-update rows (one is made by default)."""
        self.runtime = runtime
        self.writes = writes or WriteBatcher(runtime.engine, clock=runtime.clock)
        self._cache: dict[str, ConversationRef] = {}

    def cached(self, channel: str, chat_id: str) -> ConversationRef | None:
        """The conversation of this chat if this process has seen it (no database call)."""
        return self._cache.get(conversation_key(channel, chat_id))

    async def ref(
        self,
        channel: str,
        chat_id: str,
        user_id: str | None = None,
        *,
        display_name: str | None = None,
        create: bool = True,
    ) -> ConversationRef | None:
        """`ensure` (or `find` when not `create`) in a session of its own, skipped when
        the conversation is cached (the hot path: every update of a known chat)."""
        ref = self.cached(channel, chat_id)
        if ref is not None:
            return ref
        async with self.desk() as desk:
            if not create:
                return await self.find(desk, channel, chat_id)
            return await self.ensure(desk, channel, chat_id, user_id, display_name=display_name)

    @asynccontextmanager
    async def desk(self) -> AsyncIterator[Desk]:
        """A `Desk` over a fresh session (closed afterwards)."""
        async with self.runtime.sessions() as session:
            yield self.runtime.desk(session)

    def remember(self, channel: str, chat_id: str, conv: Conversation) -> ConversationRef:
        """Cache `conv` as the conversation of `channel:chat_id`."""
        ref = ConversationRef(conv.id, conv.taxpayer_id)
        self._cache[conversation_key(channel, chat_id)] = ref
        return ref

    async def find(self, desk: Desk, channel: str, chat_id: str) -> ConversationRef | None:
        """The conversation of this chat, or None if the desk has never seen it."""
        key = conversation_key(channel, chat_id)
        ref = self._cache.get(key)
        if ref is not None:
            return ref
        conv = await desk.find_conversation(channel, chat_id)
        return self.remember(channel, chat_id, conv) if conv is not None else None

    async def ensure(
        self,
        desk: Desk,
        channel: str,
        chat_id: str,
        user_id: str | None = None,
        *,
        display_name: str | None = None,
    ) -> ConversationRef:
        """The conversation of this chat, created on first contact (taxpayer, identity and
        conversation). In a private chat the user id is the chat id, the default."""
        ref = await self.find(desk, channel, chat_id)
        if ref is not None:
            return ref
        conv = await desk.ensure_conversation(
            channel, user_id or chat_id, chat_id, display_name=display_name
        )
        return self.remember(channel, chat_id, conv)


def _user_error(exc: DeskError) -> GatewayError:
    log.info("desk refused: %s", exc.code)
    return GatewayError(exc.user_message)


class DeskStaffTopics:
    """The staff supergroup's view of the desk: `bot.ports.TopicStore` (topic mapping, card,
    relayed messages), `bot.ports.StaffDesk` (the staff handlers) and `bot.ports.StaffRelay`
    (taxpayer messages into the topic while staff own the conversation)."""

    def __init__(
        self,
        conversations: DeskConversations,
        *,
        on_take_over: Callable[[str, str], Awaitable[None]] | None = None,
        intents: Callable[[str, str], Awaitable[list[str]]] | None = None,
    ) -> None:
        """`on_take_over(channel, chat_id)`: told when a staff message took a conversation
        over from the bot (the dialogue's tracker follows, so the bot stops answering).
        `intents(channel, chat_id)`: the taxpayer's last intents (the dialogue's tracker)
        for the topic's card."""
        self.conversations = conversations
        self.on_take_over = on_take_over
        self.intents = intents

    async def topic(self, conversation_id: int) -> int | None:
        async with self.conversations.desk() as desk:
            return await desk.staff_topic(conversation_id)

    async def save_topic(self, conversation_id: int, staff_chat_id: int, thread_id: int) -> int:
        async with self.conversations.desk() as desk:
            return await desk.save_staff_topic(conversation_id, staff_chat_id, thread_id)

    async def save_card(self, conversation_id: int, message_id: int) -> None:
        async with self.conversations.desk() as desk:
            await desk.set_topic_card(conversation_id, message_id)

    async def card(self, conversation_id: int) -> int | None:
        async with self.conversations.desk() as desk:
            return await desk.topic_card_message(conversation_id)

    async def forget_topic(self, conversation_id: int, thread_id: int) -> None:
        async with self.conversations.desk() as desk:
            await desk.forget_staff_topic(conversation_id, thread_id)

    async def facts(self, conversation_id: int) -> TopicFacts:
        async with self.conversations.desk() as desk:
            card = await desk.topic_card(conversation_id)
        intents: list[str] = []
        if self.intents is not None:
            try:
                intents = await self.intents(card.channel, card.chat_id)
            except Exception:  # the card is still worth showing without them
                log.exception(
                    "conversation %s: intents for the card unavailable", card.conversation_id
                )
        return TopicFacts(
            conversation_id=card.conversation_id,
            display_name=card.display_name,
            masked_tax_id=card.masked_tax_id,
            state=card.state,
            cases=tuple(TopicCase(c.number, c.title, c.status, c.deadline_at) for c in card.cases),
            intents=tuple(intents),
            verified=card.verified,
        )

    async def record_relay(
        self,
        conversation_id: int,
        direction: str,
        taxpayer_message_id: int,
        staff_chat_id: int,
        staff_message_id: int,
    ) -> None:
        async with self.conversations.desk() as desk:
            await desk.record_relay(
                conversation_id, direction, taxpayer_message_id, staff_chat_id, staff_message_id
            )

    async def taxpayer_copy_of(self, staff_chat_id: int, staff_message_id: int) -> int | None:
        async with self.conversations.desk() as desk:
            return await desk.taxpayer_copy_of(staff_chat_id, staff_message_id)

    async def staff_member(self, telegram_user_id: int) -> StaffIdentity | None:
        async with self.conversations.desk() as desk:
            member = await desk.staff_by_telegram(telegram_user_id)
        if member is None:
            return None
        return StaffIdentity(member.id, member.name, member.role)

    async def conversation_of_topic(self, staff_chat_id: int, thread_id: int) -> int | None:
        async with self.conversations.desk() as desk:
            return await desk.conversation_of_topic(staff_chat_id, thread_id)

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
        async with self.conversations.desk() as desk:
            done = await desk.relay_to_taxpayer(
                conversation_id,
                staff_chat_id,
                message_id,
                staff_id,
                reply_to=reply_to,
                text=text,
                album=album,
            )
        if done.took_over and self.on_take_over is not None:
            try:
                await self.on_take_over(done.channel, done.chat_id)
            except Exception:  # the desk says human, but the bot may answer until /bot
                log.exception(
                    "conversation %s: the dialogue was not told of the take-over", conversation_id
                )
        return done.took_over

    async def relay_edit_to_staff(
        self, channel: str, chat_id: str, message_id: int, text: str
    ) -> bool:
        async with self.conversations.desk() as desk:
            return await desk.relay_edit_to_staff(channel, chat_id, message_id, text)

    async def relay_edit(self, staff_chat_id: int, message_id: int, text: str) -> bool:
        async with self.conversations.desk() as desk:
            return await desk.relay_edit_to_taxpayer(staff_chat_id, message_id, text)

    async def issue_code(self, conversation_id: int, staff_id: int) -> str:
        async with self.conversations.desk() as desk:
            code, tax_id = await desk.issue_code_for_conversation(
                conversation_id, issued_by=f"staff:{staff_id}"
            )
        return (
            f"纳税人 {mask_taxpayer_id(tax_id)} 的一次性验证码：{code}"
            "（24 小时内有效，只能用一次）。"
            "请先核实对方是该单位的办税人员（电话或当面），再告诉对方在聊天中发送“验证码 "
            f"{code}”。这条消息不会转给纳税人。"
        )

    async def hand_back(self, conversation_id: int, staff_id: int) -> bool:
        async with self.conversations.desk() as desk:
            return await desk.hand_back_to_bot(conversation_id, staff_id)

    async def flag_for_review(
        self, conversation_id: int, staff_id: int, staff_chat_id: int, quoted: int | None
    ) -> str:
        async with self.conversations.desk() as desk:
            item = await desk.flag_in_topic(
                conversation_id, staff_id=staff_id, staff_chat_id=staff_chat_id, quoted=quoted
            )
        return item.text

    async def case_step(
        self,
        action: str,
        number: str,
        staff_id: int,
        text: str = "",
        *,
        attachment_ids: Sequence[int] = (),
    ) -> str:
        """One staff step on a case; then the pinned card of its topic is refreshed."""
        async with self.conversations.desk() as desk:
            if action == "claim":
                case = await desk.claim(number, staff_id)
                done = f"案件 {case.number} 已由您认领。"
            elif action == "release":
                case = await desk.release(number, staff_id)
                done = f"案件 {case.number} 已放回队列。"
            elif action == "complete":
                case = await desk.complete(number, staff_id, text, attachment_ids=attachment_ids)
                done = f"案件 {case.number} 已办结，已通知纳税人。"
                if attachment_ids:
                    done = f"案件 {case.number} 已办结，已通知纳税人并发送办理结果文件。"
            elif action == "reject":
                case = await desk.reject(number, staff_id, text)
                done = f"案件 {case.number} 已退回，已通知纳税人。"
            elif action == "ask":
                case = await desk.ask_taxpayer(number, staff_id, text)
                done = f"已向纳税人发出补充询问（案件 {case.number}）。"
            else:
                raise ValueError(f"unknown staff step {action!r}")
            try:  # the step is committed; a stale card is all a failure here costs
                await desk.refresh_case_card(case.number)
            except Exception:
                log.exception("card of case %s not refreshed", case.number)
            return done

    async def case_buttons(self, number: str) -> list[str]:
        async with self.conversations.desk() as desk:
            return await desk.topic_actions(number)

    async def check_step(self, action: str, number: str, staff_id: int) -> None:
        desk_action = {"ask": "ask_taxpayer"}.get(action, action)
        if desk_action not in ("ask_taxpayer", "complete", "reject"):
            raise ValueError(f"not a step with a text: {action!r}")
        async with self.conversations.desk() as desk:
            await desk.check_action(number, staff_id, desk_action)

    async def queue(self) -> list[tuple[TopicCase, str | None]]:
        async with self.conversations.desk() as desk:
            cases = await desk.queue(limit=50)
            return [
                (
                    TopicCase(c.number, desk.case_title(c.case_type), c.status, c.deadline_at),
                    desk.due_state(c),
                )
                for c in cases
            ]

    async def relay_to_staff(
        self, channel: str, chat_id: str, messages: list[tuple[int, str | None, int | None]]
    ) -> int:
        async with self.conversations.desk() as desk:
            return await desk.relay_to_staff(channel, chat_id, messages)


class DeskCaseGateway:
    """`actions.ports.CaseGateway` over the desk services (mapping in `actions/README.md`)."""

    def __init__(self, conversations: DeskConversations, *, staff_chat: bool = False) -> None:
        """`staff_chat`: a staff supergroup is configured (`STAFF_CHAT_ID`): a hand-over
        alerts the conversation's topic there and new cases are announced in it; without one
        the hand-over reply only promises an answer within office hours."""
        self.conversations = conversations
        self.staff_chat = staff_chat

    async def _conv(self, desk: Desk, requester: Requester) -> ConversationRef:
        return await self.conversations.ensure(
            desk, requester.channel, requester.chat_id, requester.user_id or None
        )

    async def open_draft(
        self, requester: Requester, case_type: str, slots: Mapping[str, str]
    ) -> str:
        """`open_case` (collecting) under the conversation's taxpayer; the case number."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                case = await desk.open_case(
                    case_type,
                    taxpayer_id=conv.taxpayer_id,
                    conversation_id=conv.id,
                    slots=dict(slots),
                )
            except DeskError as exc:
                raise _user_error(exc) from exc
            return case.number

    async def set_slots(self, case_id: str, slots: Mapping[str, str]) -> None:
        """`Desk.set_slots` on the draft."""
        async with self.conversations.desk() as desk:
            try:
                await desk.set_slots(case_id, dict(slots))
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def attach_file(
        self,
        case_id: str,
        attachment_id: int,
        checklist_item: str,
        *,
        requester: Requester,
    ) -> None:
        """`Desk.attach` of a stored attachment to a checklist item of a case this chat may
        change (the entitlement rule)."""
        async with self.conversations.desk() as desk:
            try:
                acting = (await self._conv(desk, requester)).taxpayer_id
                await desk.attach(case_id, attachment_id, checklist_item, taxpayer_id=acting)
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def submit(self, case_id: str) -> SubmittedCase:
        """Queue the draft (no desk notice: the dialogue says number and deadline)."""
        async with self.conversations.desk() as desk:
            try:
                case = await desk.submit(case_id, notify=False)
            except DeskError as exc:
                raise _user_error(exc) from exc
            assert case.deadline_at is not None
            if self.staff_chat:  # the new case is announced in its staff topic
                try:
                    await desk.announce_case(case.number)
                except Exception:  # the case is queued; staff see it in /queue
                    log.exception("case %s not announced to staff", case.number)
            return SubmittedCase(case.number, case.deadline_at.astimezone(OFFICE_TZ).date())

    async def cancel(self, case_id: str, *, requester: Requester) -> None:
        """Cancel the draft as the taxpayer of this chat: only a case the chat may change
        (the entitlement rule)."""
        async with self.conversations.desk() as desk:
            try:
                acting = (await self._conv(desk, requester)).taxpayer_id
                await desk.cancel_as_taxpayer(case_id, acting)
            except DeskError as exc:
                raise _user_error(exc) from exc

    @staticmethod
    def _summary(c: DeskCaseSummary) -> CaseSummary:
        def day(at: datetime | None) -> date | None:
            return at.astimezone(OFFICE_TZ).date() if at else None

        return CaseSummary(
            c.number,
            c.case_type,
            c.status,
            day(c.deadline_at),
            c.last_question,
            note=c.note,
            reason=c.reason,
            closed_on=day(c.closed_at),
            documents=c.documents,
        )

    async def list_cases(
        self, requester: Requester, *, taxpayer_id: str | None
    ) -> Sequence[CaseSummary]:
        """Submitted, unfinished cases this chat may see, newest first (drafts are the
        dialogue's own business), then the recent results, latest first
        (`Desk.taxpayer_cases`, the entitlement rule: its own, and all of the taxpayer IDs it
        is verified for). Naming a taxpayer ID (`taxpayer_id`) shows nothing more
        (`is_verified` says whether to offer verification)."""
        open_: list[CaseSummary] = []
        results: list[tuple[date, CaseSummary]] = []
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                for c in await desk.taxpayer_cases(conv.taxpayer_id):
                    if c.status == CaseStatus.COLLECTING:
                        continue
                    summary = self._summary(c)
                    if summary.is_result:
                        results.append((summary.closed_on or date.min, summary))
                    else:
                        open_.append(summary)
            except DeskError as exc:
                raise _user_error(exc) from exc
        open_.sort(key=lambda c: c.number, reverse=True)
        results.sort(key=lambda r: (r[0], r[1].number), reverse=True)
        return [*open_, *(r for _, r in results[:RECENT_LIMIT])]

    async def case_status(
        self, requester: Requester, case_number: str, *, taxpayer_id: str | None
    ) -> CaseSummary:
        """`Desk.taxpayer_case`: one case this chat may see (the entitlement rule)."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                c = await desk.taxpayer_case(case_number, conv.taxpayer_id)
            except DeskError as exc:
                raise _user_error(exc) from exc
        return self._summary(c)

    async def withdraw(
        self, requester: Requester, case_number: str, *, taxpayer_id: str | None
    ) -> None:
        """`Desk.withdraw` (queued only); with a staff supergroup the topic is told."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                await desk.withdraw(
                    case_number,
                    conv.taxpayer_id,
                    notify_staff=self.staff_chat,
                )
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def add_files(
        self,
        requester: Requester,
        case_number: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        """`Desk.add_to_case`; with a staff supergroup the topic is told."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                await desk.add_to_case(
                    case_number,
                    list(attachment_ids),
                    conv.taxpayer_id,
                    notify_staff=self.staff_chat,
                )
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def is_verified(self, requester: Requester, taxpayer_id: str) -> bool:
        """Whether this chat is verified for `taxpayer_id` (sees all of its cases)."""
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            return await desk.is_verified(conv.taxpayer_id, taxpayer_id)

    async def verify_contact(
        self, requester: Requester, phone: str, contact_user_id: str | None
    ) -> list[str]:
        """A contact shared in the chat: the (masked) taxpayer IDs this chat is now verified
        for; `GatewayError` with the reason when refused (someone else's contact, a number
        no taxpayer registered)."""
        own = bool(contact_user_id) and contact_user_id == requester.user_id
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                tax_ids = await desk.verify_by_phone(conv.taxpayer_id, phone, own=own)
            except DeskError as exc:
                raise _user_error(exc) from exc
        return [mask_taxpayer_id(t) for t in tax_ids]

    async def verify_code(self, requester: Requester, code: str) -> str:
        """A one-time code typed in the chat: the (masked) taxpayer ID now verified;
        `GatewayError` with the reason (wrong, used or expired code, too many tries)."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                tax_id = await desk.verify_by_code(conv.taxpayer_id, code)
            except DeskError as exc:
                raise _user_error(exc) from exc
        return mask_taxpayer_id(tax_id)

    async def answer_question(
        self,
        requester: Requester,
        case_number: str,
        text: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        """Files go on the case (its multi-file checklist item), then the answer (with a
        staff supergroup, also queued for the case's topic)."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                case = await desk.case_of_taxpayer(case_number, conv.taxpayer_id)
                if attachment_ids:
                    ct = desk.catalog.get(case.case_type)
                    docs = sorted(ct.documents, key=lambda d: not d.multiple)
                    if docs:
                        for att_id in attachment_ids:
                            await desk.attach(
                                case.number, att_id, docs[0].key, taxpayer_id=conv.taxpayer_id
                            )
                await desk.answer(
                    case.number,
                    text,
                    taxpayer_id=conv.taxpayer_id,
                    files=len(attachment_ids),
                    relay_to_staff=self.staff_chat,  # the answer also reaches the topic
                )
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def rate(
        self, requester: Requester, case_number: str, level: str, *, taxpayer_id: str | None
    ) -> None:
        """Record the 好差评 rating of a closed case of this taxpayer."""
        async with self.conversations.desk() as desk:
            try:
                conv = await self._conv(desk, requester)
                await desk.rate(case_number, level, taxpayer_id=conv.taxpayer_id)
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def hand_over(self, requester: Requester, reason: str) -> Handoff:
        """The conversation's state becomes `human`; the answer says whether a staff chat is
        configured and whether the office is open now (else when it opens)."""
        runtime = self.conversations.runtime
        hours = runtime.hours()
        now = runtime.clock()
        open_now = hours.is_open(now)
        handoff = Handoff(  # first: should the hours fail, the conversation is not silenced
            staff_chat=self.staff_chat,
            open_now=open_now,
            next_opening=None if open_now else hours.next_opening(now),
            hours=hours.describe(),
        )
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            await desk.set_conversation_state(
                conv.id, "human", alert_staff=self.staff_chat, reason=reason
            )
            log.info("conversation %s handed to staff (%s)", conv.id, reason)
        return handoff

    async def conversation_state(self, requester: Requester) -> ConversationState:
        """`human` while staff own the conversation, else `bot`."""
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            return await desk.conversation_state(conv.id)

    async def office_days(self, start: date, days: int) -> list[OfficeDay]:
        """From the desk's holiday calendar (data/calendar/*.yml)."""
        calendar = self.conversations.runtime.calendar
        out = []
        for i in range(days):
            day = start + timedelta(days=i)
            name = calendar.holiday_name(day) or calendar.workday_name(day)
            out.append(OfficeDay(day, calendar.is_working_day(day), name))
        return out

    async def record_complaint(
        self, requester: Requester, text: str, *, working_days: int
    ) -> ComplaintRecorded:
        """A supervisor follow-up of kind `complaint` (in the staff topic too, with a staff
        chat); the due day in the office's time zone."""
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            follow_up = await desk.record_complaint(
                conv.id, text, working_days=working_days, alert_staff=self.staff_chat
            )
            log.info("complaint recorded as follow-up %s (conversation %s)", follow_up.id, conv.id)
            due = follow_up.due_at
            assert due is not None  # set by record_complaint
            return ComplaintRecorded(follow_up.id, due.astimezone(OFFICE_TZ).date())

    async def add_review_item(
        self, requester: Requester, text: str, parse: Mapping[str, Any], *, reason: str
    ) -> None:
        """Into the admins' review inbox, linked to the conversation."""
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            await desk.add_review_item(
                text, reason=reason, parse=dict(parse), conversation_id=conv.id
            )


class DeskTrackerStore:
    """`actions.ports.TrackerStore` in the desk's `conversation.tracker` column."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def load(self, conversation_key: str) -> Tracker | None:
        """The stored tracker, or None (new conversation, or none saved yet). Read in the
        desk's group commit (`desk.batch`), beside other chats' writes."""
        channel, _, chat_id = conversation_key.partition(":")
        ref = await self.conversations.ref(channel, chat_id, create=False)
        if ref is None:
            return None
        data = await self.conversations.writes.load_tracker(ref.id)
        return Tracker.from_dict(data) if data else None

    async def save(self, tracker: Tracker) -> None:
        """Replace the stored tracker (creating the conversation if the channel did not);
        committed when this returns (group commit, `desk.batch`)."""
        channel, _, chat_id = tracker.conversation_key.partition(":")
        ref = await self.conversations.ref(
            tracker.channel or channel, tracker.chat_id or chat_id, tracker.user_id
        )
        assert ref is not None
        await self.conversations.writes.save_tracker(ref.id, tracker.to_dict())


# ------------------------------------------------------------------ the Telegram side


class DeskInboundStore:
    """`bot.ports.InboundStore` over `Desk.ensure_conversation` (first contact) and the
    group commit's `WriteBatcher.record_inbound`."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def record_update(
        self,
        channel: str,
        update_id: int,
        chat_id: str | None,
        user_id: str | None,
        text: str | None,
        raw: dict[str, Any],
    ) -> bool:
        """Store the update as an inbound message row; False if it was stored before.
        Only taxpayers' private chats are conversations: updates from groups (staff topics,
        a later issue) or without a chat are passed on unstored, and no handler of the
        taxpayer chat acts on them."""
        query = raw.get("callback_query") or {}
        message = raw.get("message") or raw.get("edited_message") or query.get("message") or {}
        if chat_id is None or (message.get("chat") or {}).get("type") != "private":
            return True
        if query:
            message = {}  # the bot's own message the button sits under
        user = message.get("from") or query.get("from") or {}
        return await self.record_message(
            channel,
            chat_id,
            user_id,
            text,
            update_id=str(update_id),
            channel_message_id=str(message["message_id"]) if "message_id" in message else None,
            display_name=user.get("first_name"),
        )

    async def record_message(
        self,
        channel: str,
        chat_id: str,
        user_id: str | None,
        text: str | None,
        *,
        update_id: str | None = None,
        channel_message_id: str | None = None,
        display_name: str | None = None,
        attachment_id: int | None = None,
    ) -> bool:
        """Store one inbound message (any channel), committed when this returns (group
        commit, `desk.batch`); False for a repeated `update_id`."""
        ref = await self.conversations.ref(channel, chat_id, user_id, display_name=display_name)
        assert ref is not None
        return await self.conversations.writes.record_inbound(
            ref.id,
            channel,
            chat_id,
            text=text,
            update_id=update_id,
            channel_message_id=channel_message_id,
            attachment_id=attachment_id,
        )


class DeskOutboundStore:
    """`bot.ports.OutboundStore`: what the bot sent (`WriteBatcher.record_outbound`)."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def record_sent(
        self,
        channel: str,
        chat_id: str,
        texts: list[tuple[str | None, str | None]],
        *,
        outbox_key: str | None = None,
        meta: Sequence[dict[str, Any] | None] | None = None,
    ) -> None:
        """Store `(text, channel message id)` pairs as outbound rows of the chat (group
        commit, `desk.batch`); `meta`: one per pair (the web chat's buttons), or None."""
        ref = await self.conversations.ref(channel, chat_id)
        assert ref is not None
        await self.conversations.writes.record_outbound(
            ref.id, channel, chat_id, texts, outbox_key=outbox_key, meta=meta
        )


class DeskFileIntake:
    """`bot.ports.FileIntake`: `inspect_upload_async` (off the event loop), then the checked
    bytes and thumbnail into `LocalAttachmentStore(data_dir / "attachments")` and a row."""

    def __init__(
        self,
        conversations: DeskConversations,
        data_dir: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """`max_bytes`: the largest file checked (20 MB, what the official Bot API serves;
        more with a self-hosted `--local` server)."""
        self.conversations = conversations
        self.store = LocalAttachmentStore(Path(data_dir) / "attachments")
        self.max_bytes = max_bytes

    async def accept(
        self, data: bytes, filename: str | None, declared_type: str | None
    ) -> InboundFile:
        """Check and store; `intake.documents.DocumentRejected` (a `UserFacingError`)."""
        doc = await inspect_upload_async(
            data, filename=filename, declared_type=declared_type, max_bytes=self.max_bytes
        )
        async with self.conversations.desk() as desk:
            att = await desk.store_attachment(
                self.store,
                doc.data,
                media_type=doc.media_type,
                suffix=doc.suggested_extension,
                original_name=doc.original_name,
                thumbnail=doc.thumbnail,
                page_count=doc.page_count,
            )
        return InboundFile(
            attachment_id=att.id,
            media_type=doc.media_type,
            original_name=doc.original_name,
            size=doc.size,
            page_count=doc.page_count,
        )


class DeskNoticeLookups:
    """`bot.ports.NoticeLookups` over the desk's queries and the attachment store."""

    def __init__(self, runtime: DeskRuntime, data_dir: Path = Path("var")) -> None:
        """`data_dir`: `TAXDESK_DATA_DIR`, where the attachment store lives."""
        self.runtime = runtime
        self.store = LocalAttachmentStore(Path(data_dir) / "attachments")

    async def document(self, storage_key: str) -> bytes:
        """A stored attachment's bytes (`LookupError` when the blob is missing)."""
        try:
            return await self.store.get(storage_key)
        except BlobNotFoundError as exc:
            raise LookupError(storage_key) from exc

    async def recent_texts(self, notice: OutboxItem, limit: int) -> Sequence[str | None]:
        """`Desk.recent_inbound_texts` of the notice's conversation."""
        async with self.runtime.sessions() as session:
            return await self.runtime.desk(session).recent_inbound_texts(notice, limit=limit)
