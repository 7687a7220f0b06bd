"""The desk's services on the taxpayer's side of cases: draft, slots, files, submit, cancel,
answer, rating, the taxpayer's open cases, and the review inbox."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from desk import notices
from desk import repositories as repo
from desk.case_types import CaseType
from desk.errors import (
    ConcurrentUpdate,
    DeskError,
    FileRefused,
    IllegalTransition,
    InvalidPeriod,
    InvalidRating,
    InvalidSlot,
    MissingDocuments,
    MissingSlots,
    NotFound,
    UnknownDocument,
    WithdrawRefused,
)
from desk.models import Attachment, Case, CaseEvent, FollowUp, Rating, ReviewItem
from desk.services.access import Access
from desk.services.core import Actor, valid_tax_id
from desk.services.topics import staff_row
from desk.states import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    RESULT_STATUSES,
    CaseStatus,
    allowed_from,
)
from intake.documents import DocumentRejected, inspect_upload_async
from intake.storage import AttachmentStore
from taxrules.periods import kinds_in_words, parse_canonical_period, read_period
from taxrules.tax_types import FILING_PERIODS, TAX_TYPES

ALREADY_RATED = "这个案件您已经评价过了，谢谢！"
#: Finished and rejected cases shown with the open ones: closed within this many days,
RECENT_DAYS = 30
#: and at most this many.
RECENT_LIMIT = 5


# what "进度" lists after the open cases: results, and submitted cases withdrawn or cancelled
_SHOWN_CLOSED = frozenset({*RESULT_STATUSES, CaseStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A taxpayer's case as the dialogue shows it ("进度"): open, or recently done/rejected."""

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
    note: str | None = None  # done: the staff note
    reason: str | None = None  # rejected: the reason
    closed_at: datetime | None = None  # done or rejected: when
    documents: tuple[str, ...] = ()  # names of the files staff produced (a certificate)


class TaxpayerCases(Access):
    """What the taxpayer (through the dialogue) does with cases. Every call made for a
    taxpayer (`taxpayer_id` given) goes through the entitlement rule (`Access`)."""

    def _clean_slots(self, ct: CaseType, slots: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in slots.items():
            if k not in ct.slots:
                raise InvalidSlot(ct.key, k)
            if isinstance(v, str):
                v = v.strip()
            if k == "taxpayer_id" and v not in (None, ""):
                v = valid_tax_id(str(v))
            if k == "tax_period" and v not in (None, ""):
                v = self._clean_period(ct, str(v))
            out[k] = v
        period, tax_type = out.get("tax_period"), out.get("tax_type")
        kinds = FILING_PERIODS.get(str(tax_type)) if tax_type else None
        span = parse_canonical_period(str(period)) if period else None
        if kinds and span and span.kind not in kinds:
            counted, _ = kinds_in_words(kinds)
            name = TAX_TYPES.get(str(tax_type), (str(tax_type),))[0]
            raise InvalidPeriod(ct.key, str(period), f"{name}{counted}申报")
        return out

    def _clean_period(self, ct: CaseType, value: str) -> str:
        """The canonical form of a period (`2025-Q3`; staff may type 2025年第三季度), of a kind
        and shape the case type takes. Whether it may be filed yet is the dialogue's question
        (it asks again); the desk keeps cases consistent with their type."""
        reading = read_period(value, self.now().astimezone(notices.OFFICE_TZ).date())
        if reading is None or reading.span is None:
            reason = reading.error if reading and reading.error else "无法识别这个所属期"
            raise InvalidPeriod(ct.key, value, reason)
        span = reading.span
        if span.is_range and not ct.periods.ranges:
            raise InvalidPeriod(ct.key, value, f"「{ct.title.zh_hans}」一次只能办理一个所属期")
        if span.kind not in ct.periods.kinds:
            counted, _ = kinds_in_words(ct.periods.kinds)
            raise InvalidPeriod(ct.key, value, f"「{ct.title.zh_hans}」的所属期{counted}计")
        return span.canonical

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

    async def open_and_submit(
        self,
        case_type: str,
        *,
        taxpayer_id: int,
        conversation_id: int | None = None,
        slots: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
        notify: bool = True,
    ) -> Case:
        """Open a case and submit it at once (a request taken by phone). All or nothing: when
        it cannot be submitted (`MissingSlots`, `MissingDocuments`, ...) no draft is left."""
        try:
            ct = self.catalog.get(case_type)
            clean = self._clean_slots(ct, slots or {})
        except DeskError as exc:
            raise await self._fail(exc) from None
        missing = [s for s in ct.slots if clean.get(s) in (None, "", [], {})]
        if missing:
            raise await self._fail(MissingSlots("（新案件）", missing))
        if ct.required_documents:  # a new case has no files yet
            docs = [d.key for d in ct.required_documents]
            titles = [d.title.zh_hans for d in ct.required_documents]
            raise await self._fail(MissingDocuments("（新案件）", docs, titles))
        case = await self.open_case(
            ct.key,
            taxpayer_id=taxpayer_id,
            conversation_id=conversation_id,
            slots=clean,
            actor=actor,
        )
        case_id = case.id
        try:
            return await self.submit(case.number, actor=actor, notify=notify)
        except DeskError:
            await self.session.execute(delete(Case).where(Case.id == case_id))
            await self._commit()
            raise

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
        """Record a file already put in the attachment store (see `intake.storage`)."""
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

    async def check_and_store(
        self, store: AttachmentStore, data: bytes, filename: str | None
    ) -> Attachment:
        """A file from outside the chat (staff's produced document): the same intake checks
        as the taxpayer's uploads (`intake.documents`, off the event loop), then stored
        (`store_attachment`). A refused file raises `FileRefused` with the reason."""
        try:
            doc = await inspect_upload_async(data, filename=filename)
        except DocumentRejected as exc:
            raise await self._fail(FileRefused(exc.user_message)) from None
        return await self.store_attachment(
            store,
            doc.data,
            media_type=doc.media_type,
            suffix=doc.suggested_extension,
            original_name=doc.original_name or filename,
            thumbnail=doc.thumbnail,
            page_count=doc.page_count,
        )

    async def attach(
        self,
        number: str,
        attachment_id: int,
        document_key: str,
        *,
        actor: Actor | None = None,
        taxpayer_id: int | None = None,
    ) -> Attachment:
        """Put an attachment on a case's checklist item (a draft, or a case waiting for the
        taxpayer). A single-item document replaces the previous file for that item.
        `taxpayer_id`: the taxpayer acting (the case must be one it may change)."""
        if taxpayer_id is not None:
            case = await self.entitled_case(number, taxpayer_id)
            actor = actor or Actor.taxpayer(taxpayer_id)
        else:
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
            await self._authorize(member, "cancel", case)
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

    async def cancel_as_taxpayer(self, number: str, taxpayer_id: int) -> Case | None:
        """The taxpayer (`taxpayer_id`, the one acting) withdraws an open case it may change
        (no notice: the dialogue says so itself); None when it is no longer open;
        `CaseNotVisible` when there is no such case or it is not the taxpayer's to change."""
        case = await self.entitled_case(number, taxpayer_id)
        if case.status not in OPEN_STATUSES:
            await self._commit()
            return None
        return await self.cancel(case.number, actor=Actor.taxpayer(taxpayer_id))

    async def answer(
        self,
        number: str,
        text_: str,
        *,
        taxpayer_id: int | None = None,
        message_id: int | None = None,
        files: int = 0,
        relay_to_staff: bool = False,
    ) -> Case:
        """The taxpayer answers a staff question: `waiting_taxpayer` -> `in_progress`.
        `relay_to_staff` (a staff supergroup is configured): the answer (and how many `files`
        came with it) is also queued for the case's staff topic (`staff_answer`, channel
        `telegram_staff`), in the same transaction as the step."""
        if taxpayer_id is not None:
            case = await self.entitled_case(number, taxpayer_id)
        else:
            case = await self._case(number)
        conv_id = case.conversation_id
        if relay_to_staff and conv_id is not None and case.status == CaseStatus.WAITING_TAXPAYER:
            self.session.add(  # (in any other state the step refuses: nothing is queued)
                staff_row(
                    conv_id,
                    "staff_answer",
                    {"case_number": case.number, "text": text_, "files": files},
                    self.now(),
                )
            )
        await self._transition(
            case,
            "answer",
            Actor.taxpayer(taxpayer_id if taxpayer_id is not None else case.taxpayer_id),
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
        follow-up for a supervisor. `taxpayer_id`: the taxpayer rating (the case must be one
        it may rate: `Access.entitled_case`)."""
        if taxpayer_id is not None:
            case = await self.entitled_case(number, taxpayer_id)
        else:
            case = await self._case(number)
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
                actor_id=str(taxpayer_id if taxpayer_id is not None else case.taxpayer_id),
                action="rate",
                from_status=case.status,
                to_status=case.status,
                data={"level": level, "comment": comment},
                at=self.now(),
            )
        )
        await self._commit()
        return rating

    async def case_of_taxpayer(self, number: str, taxpayer_id: int) -> Case:
        """The case, if this taxpayer (a channel account) may see it (`Access.entitled_case`);
        otherwise `CaseNotVisible`, so someone else's case is not shown to exist."""
        case = await self.entitled_case(number, taxpayer_id)
        await self._commit()
        return case

    def _summary(
        self,
        case: Case,
        question: str | None,
        produced: list[Attachment],
        ms: list[str],
        md: list[str],
    ) -> CaseSummary:
        ct = self.catalog.get(case.case_type)
        return CaseSummary(
            number=case.number,
            case_type=case.case_type,
            title_hans=ct.title.zh_hans,
            title_hant=ct.title.zh_hant,
            status=case.status,
            deadline_at=case.deadline_at,
            due=str(self.calendar.due_state(case.deadline_at, self.now()))
            if case.deadline_at and case.status in ACTIVE_STATUSES
            else None,
            last_question=question,
            missing_slots=tuple(ms),
            missing_documents=tuple(md),
            note=case.note if case.status == CaseStatus.DONE else None,
            reason=case.reason
            if case.status in (CaseStatus.REJECTED, CaseStatus.CANCELLED)
            else None,
            closed_at=case.closed_at if case.status in _SHOWN_CLOSED else None,
            documents=tuple(a.original_name or f"文件{a.id}" for a in produced),
        )

    async def _summaries(self, cases: Sequence[Case]) -> list[CaseSummary]:
        produced: dict[int, list[Attachment]] = {}
        for att in await repo.produced_attachments_of(self.session, [c.id for c in cases]):
            produced.setdefault(att.case_id or 0, []).append(att)
        out: list[CaseSummary] = []
        for case in cases:
            q = None
            if case.status == CaseStatus.WAITING_TAXPAYER:
                ev = await repo.last_event(self.session, case.id, "ask")
                q = (ev.data or {}).get("question") if ev else None
            ms: list[str] = []
            md: list[str] = []
            if case.status == CaseStatus.COLLECTING:
                ms, md = await self.missing_for_submit(case)
            out.append(self._summary(case, q, produced.get(case.id, []), ms, md))
        return out

    async def taxpayer_cases(
        self, taxpayer_id: int, *, recent_days: int = RECENT_DAYS, recent_limit: int = RECENT_LIMIT
    ) -> list[CaseSummary]:
        """The cases this taxpayer may see (`Access.entitled_cases`: its own and those of the
        taxpayer IDs it is verified for): the open ones (oldest first: state, deadline, due
        state, the last question), then the latest `recent_limit` done, rejected or withdrawn
        ones closed within `recent_days` (latest first: the staff note, the rejection reason or
        who withdrew it, the documents staff produced). A draft dropped before submitting was
        never a case for the taxpayer and is not shown. The one list behind "进度"."""
        since = self.now() - timedelta(days=recent_days)
        cases = await self.entitled_cases(taxpayer_id, OPEN_STATUSES | _SHOWN_CLOSED)
        open_ = [c for c in cases if c.status in OPEN_STATUSES]
        closed = [
            c
            for c in cases
            if c.status in _SHOWN_CLOSED
            and c.closed_at is not None
            and c.closed_at >= since
            and (c.status != CaseStatus.CANCELLED or c.submitted_at is not None)
        ]
        closed.sort(key=lambda c: (c.closed_at, c.id), reverse=True)
        out = await self._summaries([*open_, *closed[: max(recent_limit, 0)]])
        await self._commit()
        return out

    async def taxpayer_open_cases(
        self, taxpayer_id: int, statuses: Collection[str] = OPEN_STATUSES
    ) -> list[CaseSummary]:
        """The cases this taxpayer may see in `statuses` (default: the open ones), oldest
        first, without the recent results (`taxpayer_cases`)."""
        out = await self._summaries(await self.entitled_cases(taxpayer_id, statuses))
        await self._commit()
        return out

    async def taxpayer_case(self, number: str, taxpayer_id: int) -> CaseSummary:
        """One case of this taxpayer (`case_of_taxpayer` decides), as "进度 TX-…" shows it."""
        case = await self.case_of_taxpayer(number, taxpayer_id)
        (summary,) = await self._summaries([case])
        await self._commit()
        return summary

    def _staff_event(self, case: Case, text_: str) -> None:
        """A line for the case's staff topic (`staff_event`), with the step's transaction."""
        if case.conversation_id is None:
            return
        row = staff_row(
            case.conversation_id,
            "staff_event",
            {"case_number": case.number, "text": text_},
            self.now(),
        )
        row.case_id = case.id
        self.session.add(row)

    async def withdraw(
        self,
        number: str,
        taxpayer_id: int,
        *,
        notify_staff: bool = False,
    ) -> Case:
        """The taxpayer takes back a submitted case no one has claimed yet (queued →
        cancelled, event `withdraw`); once claimed, `WithdrawRefused` says why. The dialogue
        tells the taxpayer; `notify_staff` (a staff supergroup is configured): the case's
        topic is told too (`staff_event`)."""
        case = await self.case_of_taxpayer(number, taxpayer_id)
        if case.status != CaseStatus.QUEUED:
            raise await self._fail(WithdrawRefused(case.number, case.status))
        if notify_staff:
            self._staff_event(case, f"↩️ 纳税人已撤回案件 {case.number}。")
        await self._transition(
            case,
            "withdraw",
            Actor.taxpayer(case.taxpayer_id),
            changes={"closed_at": self.now(), "reason": "纳税人撤回"},
        )
        return case

    async def add_to_case(
        self,
        number: str,
        attachment_ids: Sequence[int],
        taxpayer_id: int,
        *,
        notify_staff: bool = False,
    ) -> Case:
        """Files the taxpayer sent after submitting go on the case (its multi-file checklist
        item, else unlabelled) while it can still take files (queued, in progress, waiting
        for the taxpayer): one `add_attachment` event staff see in the case view and, with
        `notify_staff`, a line in the case's staff topic (`staff_event`)."""
        case = await self.case_of_taxpayer(number, taxpayer_id)
        ct = self.catalog.get(case.case_type)
        multi = next((d.key for d in ct.documents if d.multiple), None)
        names: list[str] = []
        for att_id in attachment_ids:
            att = await self.session.get(Attachment, att_id)
            if att is None:
                raise await self._fail(NotFound(f"attachment {att_id}"))
            att.case_id = case.id
            att.document_key = multi
            names.append(att.original_name or f"文件{att.id}")
        if notify_staff and allowed_from("add_attachment", case.status):
            files = "、".join(names)
            self._staff_event(
                case, f"📎 纳税人为案件 {case.number} 补充了 {len(names)} 个文件：{files}"
            )
        await self._transition(
            case,
            "add_attachment",
            Actor.taxpayer(case.taxpayer_id),
            data={"attachment_ids": list(attachment_ids), "names": names},
        )
        return case

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
