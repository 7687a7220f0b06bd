"""The desk's services: the only way in for the bot, the staff tools, the console and the CLI.

`Desk(session, catalog, calendar)` wraps one `AsyncSession` (one per update / request / command)
and commits it: every public method is one transaction. Case transitions go through the state
machine (`desk.states`), write a `case_event` (who, what, when, from and to) and, in the same
transaction, the outbox rows for what the taxpayer must be told (`desk.notices`). After an
error the session is rolled back and can be used again.

Concurrency: a case row carries a version counter; two transitions racing on one case (two staff
claiming it) end with one commit and one `AlreadyClaimed` / `ConcurrentUpdate`, on SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from desk import notices
from desk import repositories as repo
from desk.case_types import CaseType, CaseTypeCatalog
from desk.errors import (
    AlreadyClaimed,
    CaseNotFound,
    ConcurrentUpdate,
    DeskError,
    IllegalTransition,
    InvalidRating,
    InvalidSlot,
    MissingDocuments,
    MissingSlots,
    NotFound,
    PermissionDenied,
    StaffExists,
    StaffNotFound,
    UnknownDocument,
)
from desk.models import (
    Attachment,
    Case,
    CaseCounter,
    CaseEvent,
    ChannelIdentity,
    Conversation,
    FollowUp,
    Message,
    Outbox,
    Rating,
    ReviewItem,
    StaffMember,
    Taxpayer,
    TaxpayerTaxId,
    utcnow,
)
from desk.outbox import NOTIFY_CHANNEL as OUTBOX_NOTIFY_CHANNEL
from desk.states import ACTIVE_STATUSES, CLOSED_STATUSES, CaseStatus, check
from desk.taxpayer_ids import mask, normalize_taxpayer_id
from intake.storage import AttachmentStore

log = logging.getLogger(__name__)

ROLES = ("staff", "supervisor", "admin")
SUPERVISORS = frozenset({"supervisor", "admin"})
ConversationState = Literal["bot", "human"]
ALREADY_RATED = "这个案件您已经评价过了，谢谢！"


class WorkingDays(Protocol):
    """What the desk needs from the working-day calendar (`desk.calendar.WorkingCalendar`)."""

    def add_working_days(self, start: datetime, n: int) -> datetime: ...

    def due_state(self, deadline: datetime, now: datetime) -> str: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: `kind` is taxpayer, staff or system; `id` the row id (or a tool name)."""

    kind: Literal["taxpayer", "staff", "system"]
    id: str | None = None

    @classmethod
    def taxpayer(cls, taxpayer_id: int) -> Actor:
        return cls("taxpayer", str(taxpayer_id))

    @classmethod
    def staff(cls, staff_id: int) -> Actor:
        return cls("staff", str(staff_id))

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls("system", name)


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A taxpayer's open case, as the dialogue shows it ("进度")."""

    number: str
    case_type: str
    title_hans: str
    title_hant: str
    status: str
    deadline_at: datetime | None
    due: str | None  # ok | due_soon | overdue | None (not submitted)
    last_question: str | None
    missing_slots: tuple[str, ...]
    missing_documents: tuple[str, ...]


@dataclass(slots=True)
class CaseDetail:
    """A case with everything staff see: history, attachments, outbox, rating."""

    case: Case
    events: Sequence[CaseEvent]
    attachments: Sequence[Attachment]
    outbox: Sequence[Outbox]
    rating: Rating | None
    staff_names: dict[str, str] = field(default_factory=dict)
    due: str | None = None


class Desk:
    """Services over one session. See the module docstring."""

    def __init__(
        self,
        session: AsyncSession,
        catalog: CaseTypeCatalog,
        calendar: WorkingDays,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.catalog = catalog
        self.calendar = calendar
        self.now = clock

    # ------------------------------------------------------------------ plumbing

    async def _commit(self) -> None:
        try:
            await self.session.commit()
        except BaseException:
            await self.session.rollback()
            raise

    async def _fail(self, exc: DeskError) -> DeskError:
        """End the transaction before raising a domain error. Nothing was written yet, so a
        commit (which, unlike a rollback, does not expire loaded objects) is enough; pending
        changes are rolled back."""
        s = self.session
        if s.new or s.dirty or s.deleted:
            await s.rollback()
        else:
            await s.commit()
        return exc

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def _case(self, number: str) -> Case:
        case = await repo.case_by_number(self.session, number)
        if case is None:
            raise await self._fail(CaseNotFound(number.strip().upper()))
        return case

    async def _staff(self, staff_id: int) -> StaffMember:
        member = await self.session.get(StaffMember, staff_id)
        if member is None or not member.active:
            raise await self._fail(StaffNotFound(str(staff_id)))
        return member

    async def _next_number(self, at: datetime) -> str:
        """`TX-<year>-<NNNNNN>`. The counter never goes back: a PostgreSQL sequence (not
        rolled back with the transaction) or SQLite's counter row (SQLite has a single writer,
        so a number is only seen once its case is committed; deleting a case does not
        decrement)."""
        if self._dialect() == "postgresql":
            n = int(
                (
                    await self.session.execute(text("SELECT nextval('case_number_seq')"))
                ).scalar_one()
            )
        else:
            res = await self.session.execute(
                update(CaseCounter)
                .where(CaseCounter.name == "case")
                .values(value=CaseCounter.value + 1)
                .returning(CaseCounter.value)
            )
            got = res.scalar_one_or_none()
            if got is None:
                self.session.add(CaseCounter(name="case", value=1))
                await self.session.flush()
                got = 1
            n = int(got)
        return f"TX-{at.astimezone(notices.OFFICE_TZ).year}-{n:06d}"

    async def _transition(
        self,
        case: Case,
        action: str,
        actor: Actor,
        *,
        data: Mapping[str, Any] | None = None,
        notice: tuple[str, dict[str, Any]] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> CaseEvent:
        """Apply one state-machine step, write its event and its outbox row, and commit."""
        try:
            to_status = check(action, case.status, case.number)
        except IllegalTransition as exc:
            raise await self._fail(exc) from None
        from_status = case.status
        number = case.number  # the object is expired if the flush fails and we roll back
        now = self.now()
        case.status = to_status
        case.updated_at = now
        for k, v in (changes or {}).items():
            setattr(case, k, v)
        event = CaseEvent(
            case_id=case.id,
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            data=dict(data) if data else None,
            at=now,
        )
        self.session.add(event)
        try:
            await self.session.flush()
        except StaleDataError:
            await self.session.rollback()
            raise ConcurrentUpdate(number) from None
        if notice is not None:
            self._enqueue(case, event, *notice)
            if self._dialect() == "postgresql":  # wakes outbox workers when this commits
                await self.session.execute(
                    text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_NOTIFY_CHANNEL}
                )
        await self._commit()
        log.info(
            "case %s: %s %s -> %s by %s",
            case.number,
            action,
            from_status,
            to_status,
            f"{actor.kind}:{actor.id}",
        )
        return event

    def _enqueue(self, case: Case, event: CaseEvent, kind: str, payload: dict[str, Any]) -> None:
        conv = case.conversation
        self.session.add(
            Outbox(
                kind=kind,
                payload=payload,
                channel=conv.channel if conv else None,
                chat_id=conv.chat_id if conv else None,
                idempotency_key=f"case:{case.number}:event:{event.id}:{kind}",
                case_id=case.id,
                next_attempt_at=self.now(),
                created_at=self.now(),
            )
        )

    async def _load_conversation(self, case: Case) -> None:
        if case.conversation_id is not None and "conversation" in inspect(case).unloaded:
            await self.session.refresh(case, ["conversation"])

    def _check_role(self, member: StaffMember, action: str, *, supervisor: bool = False) -> None:
        if supervisor and member.role not in SUPERVISORS:
            raise PermissionDenied(member.name, action)

    async def _require_owner_or_supervisor(
        self, case: Case, member: StaffMember, action: str
    ) -> None:
        if case.assignee_id not in (None, member.id) and member.role not in SUPERVISORS:
            raise await self._fail(PermissionDenied(member.name, action))

    # ------------------------------------------------------------------ taxpayers, chats

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

    async def _chat_of(self, conversation_id: int) -> tuple[str, str]:
        """`(channel, chat_id)` of a conversation, without loading the row (and its tracker)."""
        row = (
            await self.session.execute(
                select(Conversation.channel, Conversation.chat_id).where(
                    Conversation.id == conversation_id
                )
            )
        ).first()
        if row is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        return str(row[0]), str(row[1])

    def _insert(self) -> Any:
        """The dialect's INSERT (with ON CONFLICT support on PostgreSQL and SQLite)."""
        if self._dialect() == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert

    async def record_inbound(
        self,
        conversation_id: int,
        *,
        text: str | None,
        update_id: str | None = None,
        channel_message_id: str | None = None,
        attachment_id: int | None = None,
    ) -> tuple[Message, bool]:
        """Store an inbound message before it is acknowledged. Idempotent on
        (channel, update_id): returns `(message, True)` the first time, `(stored, False)`
        when the update was already seen. (One INSERT ... ON CONFLICT DO NOTHING: this runs
        for every update, so it stays at three statements and one commit.)"""
        channel, chat_id = await self._chat_of(conversation_id)
        now = self.now()
        stmt = self._insert()(Message).values(
            conversation_id=conversation_id,
            direction="in",
            channel=channel,
            chat_id=chat_id,
            channel_message_id=channel_message_id,
            update_id=update_id,
            text=text,
            attachment_id=attachment_id,
            outbox_key=None,
            created_at=now,
        )
        if update_id is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["channel", "update_id"])
        msg = (await self.session.scalars(stmt.returning(Message))).first()
        if msg is None:  # the update was stored before (maybe by a racing duplicate)
            seen = await repo.message_by_update(self.session, channel, str(update_id))
            await self._commit()
            if seen is None:
                raise RuntimeError(f"update {update_id} neither stored nor found")
            return seen, False
        await self.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self._commit()
        return msg, True

    async def record_outbound(
        self,
        conversation_id: int,
        *,
        text: str | None,
        channel_message_id: str | None = None,
        attachment_id: int | None = None,
        outbox_key: str | None = None,
    ) -> Message:
        """Store a message the bot or staff sent (`outbox_key`: the outbox row it came from)."""
        channel, chat_id = await self._chat_of(conversation_id)
        msg = Message(
            conversation_id=conversation_id,
            direction="out",
            channel=channel,
            chat_id=chat_id,
            channel_message_id=channel_message_id,
            text=text,
            attachment_id=attachment_id,
            outbox_key=outbox_key,
            created_at=self.now(),
        )
        self.session.add(msg)
        await self._commit()
        return msg

    async def load_tracker(self, conversation_id: int) -> dict[str, Any] | None:
        """The dialogue tracker persisted for the conversation (None at first contact)."""
        row = (
            await self.session.execute(
                select(Conversation.tracker).where(Conversation.id == conversation_id)
            )
        ).first()
        await self._commit()
        if row is None:
            raise NotFound(f"conversation {conversation_id}")
        return row[0]

    async def save_tracker(self, conversation_id: int, tracker: dict[str, Any]) -> None:
        """Persist the dialogue tracker (a JSON-serialisable dict): one UPDATE."""
        found = (
            await self.session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(tracker=dict(tracker), updated_at=self.now())
                .returning(Conversation.id)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if found is None:
            raise await self._fail(NotFound(f"conversation {conversation_id}"))
        await self._commit()

    async def set_conversation_state(
        self, conversation_id: int, state: ConversationState, *, thread_id: str | None = None
    ) -> Conversation:
        """Hand the conversation to staff (`human`) or back to the bot (`bot`)."""
        if state not in ("bot", "human"):
            raise ValueError(f"conversation state must be bot or human, not {state!r}")
        conv = await self.session.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id}")
        conv.state = state
        if thread_id is not None:
            conv.staff_thread_id = thread_id
        conv.updated_at = self.now()
        await self._commit()
        return conv

    async def remember_taxpayer_id(self, taxpayer_id: int, code: str) -> str:
        """Validate a taxpayer ID (check digit) and remember the taxpayer used it.
        Returns the canonical form; raises `InvalidTaxpayerId`."""
        value = normalize_taxpayer_id(code)
        await self._remember_tax_id(taxpayer_id, value)
        await self._commit()
        return value

    async def _remember_tax_id(self, taxpayer_id: int, value: str) -> None:
        row = await repo.tax_id_row(self.session, taxpayer_id, value)
        if row is None:
            self.session.add(
                TaxpayerTaxId(
                    taxpayer_id=taxpayer_id,
                    tax_id=value,
                    first_used_at=self.now(),
                    last_used_at=self.now(),
                )
            )
        else:
            row.last_used_at = self.now()
        await self.session.flush()

    async def taxpayer_for_tax_id(self, code: str) -> Taxpayer:
        """The taxpayer who last used this taxpayer ID, or a new one (requests by phone)."""
        value = normalize_taxpayer_id(code)
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
        log.info("taxpayer %s for id %s", taxpayer.id, mask(value))
        return taxpayer

    # ------------------------------------------------------------------ cases: taxpayer side

    def _clean_slots(self, ct: CaseType, slots: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in slots.items():
            if k not in ct.slots:
                raise InvalidSlot(ct.key, k)
            if isinstance(v, str):
                v = v.strip()
            if k == "taxpayer_id" and v not in (None, ""):
                v = normalize_taxpayer_id(str(v))
            out[k] = v
        return out

    async def open_case(
        self,
        case_type: str,
        *,
        taxpayer_id: int,
        conversation_id: int | None = None,
        slots: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> Case:
        """Open a draft case (status `collecting`) with its first slots."""
        try:
            ct = self.catalog.get(case_type)
            clean = self._clean_slots(ct, slots or {})
        except DeskError as exc:
            raise await self._fail(exc) from None
        now = self.now()
        case = Case(
            number=await self._next_number(now),
            case_type=ct.key,
            status=CaseStatus.COLLECTING,
            slots=clean,
            taxpayer_id=taxpayer_id,
            conversation_id=conversation_id,
            opened_at=now,
            updated_at=now,
        )
        self.session.add(case)
        await self.session.flush()
        if clean.get("taxpayer_id"):
            await self._remember_tax_id(taxpayer_id, clean["taxpayer_id"])
        actor = actor or Actor.taxpayer(taxpayer_id)
        self.session.add(
            CaseEvent(
                case_id=case.id,
                actor_kind=actor.kind,
                actor_id=actor.id,
                action="open",
                from_status=None,
                to_status=case.status,
                data={"slots": sorted(clean)},
                at=now,
            )
        )
        await self._commit()
        return case

    async def set_slots(
        self, number: str, slots: Mapping[str, Any], *, actor: Actor | None = None
    ) -> Case:
        """Add or change slots of a draft case (a taxpayer ID is checked and remembered)."""
        case = await self._case(number)
        if case.status != CaseStatus.COLLECTING:
            raise await self._fail(IllegalTransition(case.number, case.status, "set_slots"))
        try:
            clean = self._clean_slots(self.catalog.get(case.case_type), slots)
        except DeskError as exc:
            raise await self._fail(exc) from None
        case.slots = {**case.slots, **clean}
        case.updated_at = self.now()
        if clean.get("taxpayer_id"):
            await self._remember_tax_id(case.taxpayer_id, clean["taxpayer_id"])
        actor = actor or Actor.taxpayer(case.taxpayer_id)
        self.session.add(
            CaseEvent(
                case_id=case.id,
                actor_kind=actor.kind,
                actor_id=actor.id,
                action="set_slots",
                from_status=case.status,
                to_status=case.status,
                data={"slots": sorted(clean)},
                at=self.now(),
            )
        )
        try:
            await self.session.flush()
        except StaleDataError:
            await self.session.rollback()
            raise ConcurrentUpdate(case.number) from None
        await self._commit()
        return case

    async def add_attachment(
        self,
        *,
        sha256: str,
        size: int,
        storage_key: str,
        media_type: str,
        original_name: str | None = None,
        taxpayer_id: int | None = None,
        thumbnail_key: str | None = None,
        page_count: int | None = None,
    ) -> Attachment:
        """Record a file already put in the attachment store (see `desk.storage`)."""
        att = Attachment(
            sha256=sha256,
            size=size,
            storage_key=storage_key,
            media_type=media_type,
            original_name=original_name,
            taxpayer_id=taxpayer_id,
            thumbnail_key=thumbnail_key,
            page_count=page_count,
            created_at=self.now(),
        )
        self.session.add(att)
        await self._commit()
        return att

    async def store_attachment(
        self,
        store: AttachmentStore,
        data: bytes,
        *,
        media_type: str,
        suffix: str = "",
        original_name: str | None = None,
        taxpayer_id: int | None = None,
        thumbnail: bytes | None = None,
        page_count: int | None = None,
    ) -> Attachment:
        """Put checked bytes (and a thumbnail) in the content-addressed store, then record
        the row. The same file twice is stored once; a blob whose row failed to commit is
        harmless (content-addressed, collectable)."""
        blob = await store.put(data, suffix)
        thumb = await store.put(thumbnail, ".jpg") if thumbnail is not None else None
        return await self.add_attachment(
            sha256=blob.sha256,
            size=blob.size,
            storage_key=blob.key,
            media_type=media_type,
            original_name=original_name,
            taxpayer_id=taxpayer_id,
            thumbnail_key=thumb.key if thumb else None,
            page_count=page_count,
        )

    async def attach(
        self, number: str, attachment_id: int, document_key: str, *, actor: Actor | None = None
    ) -> Attachment:
        """Put an attachment on a case's checklist item (a draft, or a case waiting for the
        taxpayer). A single-item document replaces the previous file for that item."""
        case = await self._case(number)
        if case.status not in (CaseStatus.COLLECTING, CaseStatus.WAITING_TAXPAYER):
            raise await self._fail(IllegalTransition(case.number, case.status, "attach"))
        ct = self.catalog.get(case.case_type)
        spec = ct.document(document_key)
        if spec is None:
            raise await self._fail(UnknownDocument(ct.key, document_key))
        att = await self.session.get(Attachment, attachment_id)
        if att is None:
            raise await self._fail(NotFound(f"attachment {attachment_id}"))
        replaced: list[int] = []
        if not spec.multiple:
            for old in await repo.attachments_of(self.session, case.id):
                if old.document_key == document_key and old.id != att.id:
                    old.document_key = None
                    replaced.append(old.id)
        att.case_id = case.id
        att.document_key = document_key
        actor = actor or Actor.taxpayer(case.taxpayer_id)
        self.session.add(
            CaseEvent(
                case_id=case.id,
                actor_kind=actor.kind,
                actor_id=actor.id,
                action="attach",
                from_status=case.status,
                to_status=case.status,
                data={
                    "attachment_id": att.id,
                    "document_key": document_key,
                    "sha256": att.sha256,
                    "replaced": replaced,
                },
                at=self.now(),
            )
        )
        await self._commit()
        return att

    async def missing_for_submit(self, case: Case) -> tuple[list[str], list[str]]:
        """(missing slot keys, missing required document keys) of a case."""
        ct = self.catalog.get(case.case_type)
        slots = case.slots or {}
        missing_slots = [s for s in ct.slots if slots.get(s) in (None, "", [], {})]
        have = {a.document_key for a in await repo.attachments_of(self.session, case.id)}
        missing_docs = [d.key for d in ct.required_documents if d.key not in have]
        return missing_slots, missing_docs

    async def submit(
        self, number: str, *, actor: Actor | None = None, notify: bool = True
    ) -> Case:
        """Check the slots and the document checklist and queue the case; the deadline is
        submitted + SLA working days. Tells the taxpayer the number and deadline (outbox)
        unless `notify` is False (the dialogue then says it itself)."""
        case = await self._case(number)
        ct = self.catalog.get(case.case_type)
        if case.status == CaseStatus.COLLECTING:
            missing_slots, missing_docs = await self.missing_for_submit(case)
            if missing_slots:
                raise await self._fail(MissingSlots(case.number, missing_slots))
            if missing_docs:
                titles = [d.title.zh_hans for d in ct.documents if d.key in missing_docs]
                raise await self._fail(MissingDocuments(case.number, missing_docs, titles))
        now = self.now()
        deadline = self.calendar.add_working_days(now, ct.sla_working_days).astimezone(UTC)
        await self._load_conversation(case)
        await self._transition(
            case,
            "submit",
            actor or Actor.taxpayer(case.taxpayer_id),
            data={"deadline": deadline.isoformat(), "sla_working_days": ct.sla_working_days},
            notice=("case_queued", notices.case_queued(case.number, ct, deadline))
            if notify
            else None,
            changes={"submitted_at": now, "deadline_at": deadline},
        )
        return case

    async def cancel(
        self,
        number: str,
        *,
        actor: Actor,
        reason: str | None = None,
        notify: bool | None = None,
    ) -> Case:
        """Cancel an open case. The taxpayer is notified when someone else cancels
        (`notify` None), or as asked."""
        case = await self._case(number)
        if actor.kind == "staff":
            member = await self._staff(int(str(actor.id)))
            await self._require_owner_or_supervisor(case, member, "cancel")
        ct = self.catalog.get(case.case_type)
        if notify is None:
            notify = actor.kind != "taxpayer"
        await self._load_conversation(case)
        await self._transition(
            case,
            "cancel",
            actor,
            data={"reason": reason} if reason else None,
            notice=("case_cancelled", notices.case_cancelled(case.number, ct, reason))
            if notify and case.status != CaseStatus.COLLECTING
            else None,
            changes={"closed_at": self.now(), "reason": reason},
        )
        return case

    async def answer(
        self,
        number: str,
        text_: str,
        *,
        taxpayer_id: int | None = None,
        message_id: int | None = None,
    ) -> Case:
        """The taxpayer answers a staff question: `waiting_taxpayer` -> `in_progress`."""
        case = await self._case(number)
        if taxpayer_id is not None and case.taxpayer_id != taxpayer_id:
            raise await self._fail(CaseNotFound(case.number))
        await self._transition(
            case,
            "answer",
            Actor.taxpayer(case.taxpayer_id),
            data={"text": text_, "message_id": message_id},
        )
        return case

    async def rate(
        self,
        number: str,
        level: str,
        *,
        comment: str | None = None,
        taxpayer_id: int | None = None,
    ) -> Rating:
        """Rate a closed (done or rejected) case once. A bad rating (不满意, 非常不满意) opens a
        follow-up for a supervisor."""
        case = await self._case(number)
        if taxpayer_id is not None and case.taxpayer_id != taxpayer_id:
            raise await self._fail(CaseNotFound(case.number))
        if level not in notices.RATING_LEVELS:
            raise await self._fail(
                InvalidRating(f"unknown rating level {level!r}", "请从五个评价等级中选择一个。")
            )
        if case.status not in (CaseStatus.DONE, CaseStatus.REJECTED):
            raise await self._fail(IllegalTransition(case.number, case.status, "rate"))
        if await repo.rating_of(self.session, case.id) is not None:
            raise await self._fail(
                InvalidRating(f"case {case.number} already rated", ALREADY_RATED)
            )
        rating = Rating(case_id=case.id, level=level, comment=comment, created_at=self.now())
        self.session.add(rating)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise InvalidRating(f"case {case.number} already rated", ALREADY_RATED) from None
        if level in notices.BAD_RATINGS:
            self.session.add(
                FollowUp(
                    kind="bad_rating",
                    case_id=case.id,
                    rating_id=rating.id,
                    status="open",
                    created_at=self.now(),
                )
            )
        self.session.add(
            CaseEvent(
                case_id=case.id,
                actor_kind="taxpayer",
                actor_id=str(case.taxpayer_id),
                action="rate",
                from_status=case.status,
                to_status=case.status,
                data={"level": level, "comment": comment},
                at=self.now(),
            )
        )
        await self._commit()
        return rating

    async def taxpayer_open_cases(self, taxpayer_id: int) -> list[CaseSummary]:
        """The taxpayer's open cases with state, deadline, due state and the last question."""
        out: list[CaseSummary] = []
        now = self.now()
        for case in await repo.open_cases_of(self.session, taxpayer_id):
            ct = self.catalog.get(case.case_type)
            q = None
            if case.status == CaseStatus.WAITING_TAXPAYER:
                ev = await repo.last_event(self.session, case.id, "ask")
                q = (ev.data or {}).get("question") if ev else None
            ms: list[str] = []
            md: list[str] = []
            if case.status == CaseStatus.COLLECTING:
                ms, md = await self.missing_for_submit(case)
            out.append(
                CaseSummary(
                    number=case.number,
                    case_type=case.case_type,
                    title_hans=ct.title.zh_hans,
                    title_hant=ct.title.zh_hant,
                    status=case.status,
                    deadline_at=case.deadline_at,
                    due=str(self.calendar.due_state(case.deadline_at, now))
                    if case.deadline_at and case.status in ACTIVE_STATUSES
                    else None,
                    last_question=q,
                    missing_slots=tuple(ms),
                    missing_documents=tuple(md),
                )
            )
        await self._commit()
        return out

    async def add_review_item(
        self,
        text_: str,
        *,
        reason: str,
        parse: Mapping[str, Any] | None = None,
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> ReviewItem:
        """Put a message the NLU was unsure of into the admins' review inbox."""
        item = ReviewItem(
            text=text_,
            reason=reason,
            parse=dict(parse) if parse is not None else None,
            conversation_id=conversation_id,
            message_id=message_id,
            status="open",
            created_at=self.now(),
        )
        self.session.add(item)
        await self._commit()
        return item

    # ------------------------------------------------------------------ staff side

    async def add_staff(
        self,
        name: str,
        role: str = "staff",
        *,
        telegram_user_id: int | None = None,
        login: str | None = None,
        password_hash: str | None = None,
    ) -> StaffMember:
        """Add a staff member (`role`: staff, supervisor, admin)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        name = name.strip()
        if not name:
            raise ValueError("name must not be empty")
        if await repo.staff_by_name(self.session, name) is not None:
            raise await self._fail(StaffExists(name))
        if telegram_user_id is not None and await repo.staff_by_telegram_id(
            self.session, telegram_user_id
        ):
            raise await self._fail(StaffExists(f"telegram:{telegram_user_id}"))
        if login is not None and await repo.staff_by_login(self.session, login):
            raise await self._fail(StaffExists(f"login:{login}"))
        member = StaffMember(
            name=name,
            role=role,
            telegram_user_id=telegram_user_id,
            login=login,
            password_hash=password_hash,
            active=True,
            created_at=self.now(),
        )
        self.session.add(member)
        try:
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise StaffExists(name) from None
        return member

    async def staff_named(self, name: str) -> StaffMember:
        """The active staff member with that name; raises `StaffNotFound`."""
        member = await repo.staff_by_name(self.session, name)
        if member is None or not member.active:
            raise await self._fail(StaffNotFound(name))
        return member

    async def claim(self, number: str, staff_id: int) -> Case:
        """A staff member takes a queued case. Exactly one of two racing claims wins; the
        other gets `AlreadyClaimed`."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        number = case.number
        if case.status != CaseStatus.QUEUED and case.assignee_id is not None:
            other = await self.session.get(StaffMember, case.assignee_id)
            raise await self._fail(AlreadyClaimed(number, other.name if other else None))
        try:
            await self._transition(
                case, "claim", Actor.staff(member.id), changes={"assignee_id": member.id}
            )
        except ConcurrentUpdate:
            fresh = await repo.case_by_number(self.session, number)
            by = None
            if fresh is not None and fresh.assignee_id is not None:
                other = await self.session.get(StaffMember, fresh.assignee_id)
                by = other.name if other else None
            await self.session.commit()
            raise AlreadyClaimed(number, by) from None
        return case

    async def assign(self, number: str, staff_id: int, assignee_id: int) -> Case:
        """A supervisor gives a case to a staff member (queued -> in progress, or re-assign)."""
        member = await self._staff(staff_id)
        if member.role not in SUPERVISORS:
            raise await self._fail(PermissionDenied(member.name, "assign"))
        target = await self._staff(assignee_id)
        case = await self._case(number)
        action = "claim" if case.status == CaseStatus.QUEUED else "assign"
        await self._transition(
            case,
            action,
            Actor.staff(member.id),
            data={"assignee": target.name, "assigned_by": member.name},
            changes={"assignee_id": target.id},
        )
        return case

    async def release(self, number: str, staff_id: int) -> Case:
        """Give a claimed case back to the queue."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._require_owner_or_supervisor(case, member, "release")
        await self._transition(
            case, "release", Actor.staff(member.id), changes={"assignee_id": None}
        )
        return case

    async def _staff_step(
        self,
        number: str,
        staff_id: int,
        action: str,
        *,
        data: dict[str, Any],
        notice: tuple[str, Callable[[Case, CaseType], dict[str, Any]]],
        changes: dict[str, Any] | None = None,
    ) -> Case:
        """A step by the case's assignee (or a supervisor) that tells the taxpayer something:
        the audit event and the notice are written in the same transaction."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._require_owner_or_supervisor(case, member, action)
        ct = self.catalog.get(case.case_type)
        await self._load_conversation(case)
        kind, render = notice
        await self._transition(
            case,
            action,
            Actor.staff(member.id),
            data=data,
            notice=(kind, render(case, ct)),
            changes=changes,
        )
        return case

    async def ask_taxpayer(self, number: str, staff_id: int, question: str) -> Case:
        """Staff ask the taxpayer a question (relayed into the chat): -> waiting_taxpayer."""
        return await self._staff_step(
            number,
            staff_id,
            "ask",
            data={"question": question},
            notice=("case_question", lambda c, ct: notices.case_question(c.number, ct, question)),
        )

    async def complete(self, number: str, staff_id: int, note: str) -> Case:
        """Done, with a note for the taxpayer; the notice asks for a rating."""
        return await self._staff_step(
            number,
            staff_id,
            "complete",
            data={"note": note},
            notice=("case_done", lambda c, ct: notices.case_done(c.number, ct, note)),
            changes={"note": note, "closed_at": self.now()},
        )

    async def reject(self, number: str, staff_id: int, reason: str) -> Case:
        """Rejected, with the reason told to the taxpayer."""
        return await self._staff_step(
            number,
            staff_id,
            "reject",
            data={"reason": reason},
            notice=("case_rejected", lambda c, ct: notices.case_rejected(c.number, ct, reason)),
            changes={"reason": reason, "closed_at": self.now()},
        )

    async def reopen(self, number: str, staff_id: int, reason: str) -> Case:
        """A supervisor reopens a done or rejected case: back to the queue, fresh deadline."""
        member = await self._staff(staff_id)
        if member.role not in SUPERVISORS:
            raise await self._fail(PermissionDenied(member.name, "reopen"))
        case = await self._case(number)
        ct = self.catalog.get(case.case_type)
        now = self.now()
        deadline = self.calendar.add_working_days(now, ct.sla_working_days).astimezone(UTC)
        await self._load_conversation(case)
        await self._transition(
            case,
            "reopen",
            Actor.staff(member.id),
            data={"reason": reason, "deadline": deadline.isoformat()},
            notice=("case_reopened", notices.case_reopened(case.number, ct, deadline)),
            changes={"assignee_id": None, "closed_at": None, "deadline_at": deadline},
        )
        return case

    async def open_follow_ups(self) -> list[FollowUp]:
        """Open follow-ups (bad ratings) for supervisors, oldest first."""
        rows = list(await repo.open_follow_ups(self.session))
        await self._commit()
        return rows

    async def close_follow_up(self, follow_up_id: int, staff_id: int, note: str) -> FollowUp:
        """A supervisor closes a follow-up with a note."""
        member = await self._staff(staff_id)
        if member.role not in SUPERVISORS:
            raise await self._fail(PermissionDenied(member.name, "close_follow_up"))
        fu = await self.session.get(FollowUp, follow_up_id)
        if fu is None:
            raise await self._fail(NotFound(f"follow-up {follow_up_id}"))
        fu.status, fu.note, fu.assignee_id, fu.closed_at = "closed", note, member.id, self.now()
        await self._commit()
        return fu

    # ------------------------------------------------------------------ queries

    async def queue(
        self,
        *,
        status: str | Sequence[str] | None = None,
        case_type: str | None = None,
        assignee_id: int | None = None,
        unassigned: bool = False,
        overdue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        """The staff queue: filter by status (default: active), type, assignee, overdue;
        ordered by deadline."""
        rows = await repo.queue(
            self.session,
            status=status,
            case_type=case_type,
            assignee_id=assignee_id,
            unassigned=unassigned,
            overdue_at=self.now() if overdue else None,
            limit=limit,
            offset=offset,
        )
        await self._commit()
        return list(rows)

    def due_state(self, case: Case) -> str | None:
        """ok / due_soon / overdue for an active case with a deadline, else None."""
        if case.deadline_at is None or case.status not in ACTIVE_STATUSES:
            return None
        return str(self.calendar.due_state(case.deadline_at, self.now()))

    async def case_detail(self, number: str) -> CaseDetail:
        """A case with its history, attachments, outbox rows and rating."""
        case = await self._case(number)
        events = await repo.events_of(self.session, case.id)
        ids = {int(e.actor_id) for e in events if e.actor_kind == "staff" and e.actor_id}
        if case.assignee_id:
            ids.add(case.assignee_id)
        names: dict[str, str] = {}
        if ids:
            for m in (
                await self.session.execute(select(StaffMember).where(StaffMember.id.in_(ids)))
            ).scalars():
                names[str(m.id)] = m.name
        detail = CaseDetail(
            case=case,
            events=events,
            attachments=await repo.attachments_of(self.session, case.id),
            outbox=await repo.outbox_of(self.session, case.id),
            rating=await repo.rating_of(self.session, case.id),
            staff_names=names,
            due=self.due_state(case),
        )
        await self._commit()
        return detail


__all__ = [
    "CLOSED_STATUSES",
    "ROLES",
    "Actor",
    "CaseDetail",
    "CaseSummary",
    "Desk",
    "WorkingDays",
]
