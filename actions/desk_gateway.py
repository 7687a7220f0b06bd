"""The dialogue's ports over the case backend: `CaseGateway` and a `TrackerStore` on
`desk.services.Desk`, one database session per call.

The dialogue addresses a conversation by `channel:chat_id`; the desk by its `conversation`
row. `DeskConversations` maps one to the other (cached per process: conversation rows are
never renumbered). Desk errors the taxpayer should read become `GatewayError`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from actions.ports import (
    CaseSummary,
    ConversationState,
    GatewayError,
    Requester,
    SubmittedCase,
    conversation_key,
)
from actions.tracker import Tracker
from desk import repositories as repo
from desk.batch import WriteBatcher
from desk.errors import CaseNotFound, DeskError
from desk.models import Case, Conversation
from desk.notices import OFFICE_TZ
from desk.runtime import DeskRuntime
from desk.services import Actor, Desk
from desk.states import OPEN_STATUSES, CaseStatus

log = logging.getLogger(__name__)


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
        conv = await desk.session.scalar(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.chat_id == chat_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
        await desk.session.commit()
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


class DeskCaseGateway:
    """`actions.ports.CaseGateway` over the desk services (mapping in `actions/README.md`)."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

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

    async def attach_file(self, case_id: str, attachment_id: int, checklist_item: str) -> None:
        """`Desk.attach` of a stored attachment to a checklist item."""
        async with self.conversations.desk() as desk:
            try:
                await desk.attach(case_id, attachment_id, checklist_item)
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
            return SubmittedCase(case.number, case.deadline_at.astimezone(OFFICE_TZ).date())

    async def cancel(self, case_id: str) -> None:
        """Cancel the draft as its taxpayer."""
        async with self.conversations.desk() as desk:
            try:
                case = await desk.session.scalar(select(Case).where(Case.number == case_id))
                if case is None or case.status not in OPEN_STATUSES:
                    await desk.session.commit()
                    return
                await desk.cancel(case_id, actor=Actor.taxpayer(case.taxpayer_id))
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def _taxpayers(
        self, desk: Desk, requester: Requester, taxpayer_id: str | None
    ) -> list[int]:
        """The conversation's taxpayer, and whoever else used this taxpayer ID."""
        conv = await self._conv(desk, requester)
        ids = [conv.taxpayer_id]
        if taxpayer_id:
            for row in await repo.taxpayer_ids_by_tax_id(desk.session, taxpayer_id):
                if row.taxpayer_id not in ids:
                    ids.append(row.taxpayer_id)
        return ids

    async def list_open_cases(
        self, requester: Requester, *, taxpayer_id: str | None
    ) -> Sequence[CaseSummary]:
        """Submitted, unfinished cases (drafts are the dialogue's own business)."""
        out: list[CaseSummary] = []
        async with self.conversations.desk() as desk:
            try:
                for tid in await self._taxpayers(desk, requester, taxpayer_id):
                    for c in await desk.taxpayer_open_cases(tid):
                        if c.status == CaseStatus.COLLECTING:
                            continue
                        deadline = (
                            c.deadline_at.astimezone(OFFICE_TZ).date() if c.deadline_at else None
                        )
                        out.append(
                            CaseSummary(c.number, c.case_type, c.status, deadline, c.last_question)
                        )
            except DeskError as exc:
                raise _user_error(exc) from exc
        out.sort(key=lambda c: c.number, reverse=True)
        return out

    async def _owned_case(
        self, desk: Desk, requester: Requester, number: str, taxpayer_id: str | None
    ) -> Case:
        """The case, if it belongs to this conversation's taxpayer or to the taxpayer ID the
        conversation gave; otherwise the desk's "not found"."""
        case = await repo.case_by_number(desk.session, number)
        if case is not None:
            owners = await self._taxpayers(desk, requester, taxpayer_id)
            if case.taxpayer_id in owners or (
                taxpayer_id and (case.slots or {}).get("taxpayer_id") == taxpayer_id
            ):
                return case
        await desk.session.commit()
        raise CaseNotFound(number)

    async def answer_question(
        self,
        requester: Requester,
        case_number: str,
        text: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        """Files go on the case (its multi-file checklist item), then the answer."""
        async with self.conversations.desk() as desk:
            try:
                case = await self._owned_case(desk, requester, case_number, taxpayer_id)
                if attachment_ids:
                    ct = desk.catalog.get(case.case_type)
                    docs = sorted(ct.documents, key=lambda d: not d.multiple)
                    if docs:
                        for att_id in attachment_ids:
                            await desk.attach(case.number, att_id, docs[0].key)
                await desk.answer(case.number, text)
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def rate(
        self, requester: Requester, case_number: str, level: str, *, taxpayer_id: str | None
    ) -> None:
        """Record the 好差评 rating of a closed case of this taxpayer."""
        async with self.conversations.desk() as desk:
            try:
                case = await self._owned_case(desk, requester, case_number, taxpayer_id)
                await desk.rate(case.number, level)
            except DeskError as exc:
                raise _user_error(exc) from exc

    async def hand_over(self, requester: Requester, reason: str) -> None:
        """The conversation's state becomes `human`."""
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            await desk.set_conversation_state(conv.id, "human")
            log.info("conversation %s handed to staff (%s)", conv.id, reason)

    async def conversation_state(self, requester: Requester) -> ConversationState:
        """`human` while staff own the conversation, else `bot`."""
        async with self.conversations.desk() as desk:
            conv = await self._conv(desk, requester)
            row = await desk.session.get(Conversation, conv.id)
            state = row.state if row is not None else "bot"
            await desk.session.commit()
        return "human" if state == "human" else "bot"

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
