"""Queries over the desk's tables. Repositories only read and add; they never commit
(the services own the transaction)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from desk.models import (
    Attachment,
    Case,
    CaseEvent,
    ChannelIdentity,
    Conversation,
    FollowUp,
    Message,
    Outbox,
    Rating,
    ReviewItem,
    StaffMember,
    TaxHandler,
    Taxpayer,
    TaxpayerTaxId,
    Verification,
    VerificationAttempt,
    VerificationCode,
)
from desk.states import ACTIVE_STATUSES


async def case_by_number(session: AsyncSession, number: str) -> Case | None:
    """The case with that number (fresh from the database, with its conversation), or None."""
    return (
        await session.execute(
            select(Case)
            .where(Case.number == number.strip().upper())
            .options(joinedload(Case.conversation))
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def staff_by_name(session: AsyncSession, name: str) -> StaffMember | None:
    """The staff member with that name, or None."""
    return (
        await session.execute(select(StaffMember).where(StaffMember.name == name))
    ).scalar_one_or_none()


async def staff_by_telegram_id(session: AsyncSession, user_id: int) -> StaffMember | None:
    """The staff member with that Telegram user id, or None."""
    return (
        await session.execute(select(StaffMember).where(StaffMember.telegram_user_id == user_id))
    ).scalar_one_or_none()


async def staff_by_login(session: AsyncSession, login: str) -> StaffMember | None:
    """The staff member with that console login, or None."""
    return (
        await session.execute(select(StaffMember).where(StaffMember.login == login))
    ).scalar_one_or_none()


async def list_staff(session: AsyncSession) -> Sequence[StaffMember]:
    """All staff members by name."""
    return (await session.execute(select(StaffMember).order_by(StaffMember.name))).scalars().all()


async def identity(
    session: AsyncSession, channel: str, channel_user_id: str
) -> ChannelIdentity | None:
    """The channel identity, or None."""
    return (
        await session.execute(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel,
                ChannelIdentity.channel_user_id == channel_user_id,
            )
        )
    ).scalar_one_or_none()


async def conversation_of(
    session: AsyncSession, taxpayer_id: int, channel: str
) -> Conversation | None:
    """The taxpayer's conversation on `channel`, or None."""
    return (
        await session.execute(
            select(Conversation).where(
                Conversation.taxpayer_id == taxpayer_id, Conversation.channel == channel
            )
        )
    ).scalar_one_or_none()


async def latest_conversation(session: AsyncSession, taxpayer_id: int) -> Conversation | None:
    """The taxpayer's most recently active conversation on any channel."""
    return (
        await session.execute(
            select(Conversation)
            .where(Conversation.taxpayer_id == taxpayer_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def taxpayer_ids_by_tax_id(session: AsyncSession, tax_id: str) -> Sequence[TaxpayerTaxId]:
    """Every taxpayer who used this taxpayer ID, most recent first."""
    return (
        (
            await session.execute(
                select(TaxpayerTaxId)
                .where(TaxpayerTaxId.tax_id == tax_id)
                .order_by(TaxpayerTaxId.last_used_at.desc())
            )
        )
        .scalars()
        .all()
    )


async def tax_id_row(session: AsyncSession, taxpayer_id: int, tax_id: str) -> TaxpayerTaxId | None:
    """One taxpayer's use of one taxpayer ID."""
    return (
        await session.execute(
            select(TaxpayerTaxId).where(
                TaxpayerTaxId.taxpayer_id == taxpayer_id, TaxpayerTaxId.tax_id == tax_id
            )
        )
    ).scalar_one_or_none()


async def message_by_update(session: AsyncSession, channel: str, update_id: str) -> Message | None:
    """The message stored for a channel update, or None."""
    return (
        await session.execute(
            select(Message).where(Message.channel == channel, Message.update_id == update_id)
        )
    ).scalar_one_or_none()


async def queue(
    session: AsyncSession,
    *,
    status: str | Sequence[str] | None = None,
    case_type: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    overdue_at: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Case]:
    """Cases for the queue, ordered by deadline (no deadline last), then number.

    `status` None means the active statuses (queued, in progress, waiting); `overdue_at`
    keeps active cases whose deadline is before that time.
    """
    q = _queue_filters(
        select(Case),
        status=status,
        case_type=case_type,
        assignee_id=assignee_id,
        unassigned=unassigned,
        overdue_at=overdue_at,
    )
    q = q.order_by(Case.deadline_at.asc().nulls_last(), Case.id.asc()).limit(limit).offset(offset)
    return (await session.execute(q)).scalars().all()


def _queue_filters(
    q: Select[Any],
    *,
    status: str | Sequence[str] | None,
    case_type: str | None,
    assignee_id: int | None,
    unassigned: bool,
    overdue_at: datetime | None,
) -> Select[Any]:
    if status is None:
        q = q.where(Case.status.in_(sorted(ACTIVE_STATUSES)))
    elif isinstance(status, str):
        q = q.where(Case.status == status)
    else:
        q = q.where(Case.status.in_(list(status)))
    if case_type:
        q = q.where(Case.case_type == case_type)
    if assignee_id is not None:
        q = q.where(Case.assignee_id == assignee_id)
    if unassigned:
        q = q.where(Case.assignee_id.is_(None))
    if overdue_at is not None:
        q = q.where(Case.status.in_(sorted(ACTIVE_STATUSES)), Case.deadline_at < overdue_at)
    return q


def _verified_clause() -> Any:
    """True when the case's chat is verified for the taxpayer ID the case names (the SQL
    form of `from_verified_chat`)."""
    return exists().where(
        Verification.taxpayer_id == Case.taxpayer_id,
        Verification.tax_id == Case.slots["taxpayer_id"].as_string(),
    )


async def queue_rows(
    session: AsyncSession,
    *,
    status: str | Sequence[str] | None = None,
    case_type: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    overdue_at: datetime | None = None,
    verified: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[tuple[Case, str | None, str | None, bool]]:
    """The queue as `queue` orders and filters it, each case with its assignee's name, the
    taxpayer's display name and whether it came from a verified chat (one statement);
    `verified` filters on that."""
    flag = _verified_clause()
    q = (
        select(Case, StaffMember.name, Taxpayer.display_name, flag.label("verified"))
        .join(Taxpayer, Taxpayer.id == Case.taxpayer_id)
        .outerjoin(StaffMember, StaffMember.id == Case.assignee_id)
    )
    q = _queue_filters(
        q,
        status=status,
        case_type=case_type,
        assignee_id=assignee_id,
        unassigned=unassigned,
        overdue_at=overdue_at,
    )
    if verified is not None:
        q = q.where(flag if verified else ~flag)
    q = q.order_by(Case.deadline_at.asc().nulls_last(), Case.id.asc()).limit(limit).offset(offset)
    rows = (await session.execute(q)).all()
    return [(c, name, taxpayer, bool(v)) for c, name, taxpayer, v in rows]


async def active_staff(session: AsyncSession) -> Sequence[StaffMember]:
    """The active staff members, by name."""
    q = select(StaffMember).where(StaffMember.active.is_(True)).order_by(StaffMember.name)
    return (await session.execute(q)).scalars().all()


async def attachment_in_conversation(session: AsyncSession, attachment_id: int) -> bool:
    """Whether a message of some conversation carries this attachment."""
    q = select(exists().where(Message.attachment_id == attachment_id))
    return bool((await session.execute(q)).scalar())


async def case_stamp(session: AsyncSession, number: str) -> tuple[int, int] | None:
    """`(version, last event id)` of a case: changes whenever what its page shows does."""
    q = (
        select(Case.version, func.max(CaseEvent.id))
        .outerjoin(CaseEvent, CaseEvent.case_id == Case.id)
        .where(Case.number == number)
        .group_by(Case.id, Case.version)
    )
    row = (await session.execute(q)).first()
    return None if row is None else (int(row[0]), int(row[1] or 0))


async def produced_attachments_of(
    session: AsyncSession, case_ids: Sequence[int]
) -> Sequence[Attachment]:
    """The files staff produced on these cases, in order."""
    if not case_ids:
        return []
    return (
        (
            await session.execute(
                select(Attachment)
                .where(Attachment.case_id.in_(list(case_ids)), Attachment.produced.is_(True))
                .order_by(Attachment.id)
            )
        )
        .scalars()
        .all()
    )


async def events_of(session: AsyncSession, case_id: int) -> Sequence[CaseEvent]:
    """A case's audit trail, in order."""
    return (
        (
            await session.execute(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )
        .scalars()
        .all()
    )


async def last_event(session: AsyncSession, case_id: int, action: str) -> CaseEvent | None:
    """The latest event of one action on a case (e.g. the last staff question)."""
    return (
        await session.execute(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action == action)
            .order_by(CaseEvent.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def attachments_of(session: AsyncSession, case_id: int) -> Sequence[Attachment]:
    """A case's attachments, in upload order."""
    return (
        (
            await session.execute(
                select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)
            )
        )
        .scalars()
        .all()
    )


async def outbox_of(session: AsyncSession, case_id: int) -> Sequence[Outbox]:
    """The outbox rows a case caused, in order."""
    return (
        (
            await session.execute(
                select(Outbox).where(Outbox.case_id == case_id).order_by(Outbox.id)
            )
        )
        .scalars()
        .all()
    )


async def rating_of(session: AsyncSession, case_id: int) -> Rating | None:
    """A case's rating, or None."""
    return (
        await session.execute(select(Rating).where(Rating.case_id == case_id))
    ).scalar_one_or_none()


async def open_follow_ups(session: AsyncSession) -> Sequence[FollowUp]:
    """Open follow-ups for supervisors, oldest first."""
    return (
        (
            await session.execute(
                select(FollowUp).where(FollowUp.status == "open").order_by(FollowUp.id)
            )
        )
        .scalars()
        .all()
    )


async def open_review_items(session: AsyncSession, limit: int = 100) -> Sequence[ReviewItem]:
    """The admins' review inbox, oldest first."""
    return (
        (
            await session.execute(
                select(ReviewItem)
                .where(ReviewItem.status == "open")
                .order_by(ReviewItem.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def cases_of_taxpayers(
    session: AsyncSession, taxpayer_ids: Collection[int], statuses: Collection[str] | None = None
) -> Sequence[Case]:
    """The cases opened by these taxpayers (row ids), in these statuses, oldest first."""
    if not taxpayer_ids:
        return []
    q = select(Case).where(Case.taxpayer_id.in_(sorted(set(taxpayer_ids))))
    if statuses is not None:
        q = q.where(Case.status.in_(sorted(statuses)))
    return (await session.execute(q.order_by(Case.id))).scalars().all()


async def verified_tax_ids(session: AsyncSession, taxpayer_id: int) -> set[str]:
    """The taxpayer IDs this taxpayer (a channel account) is verified for."""
    rows = await session.execute(
        select(Verification.tax_id).where(Verification.taxpayer_id == taxpayer_id)
    )
    return set(rows.scalars().all())


async def verification(
    session: AsyncSession, taxpayer_id: int, tax_id: str
) -> Verification | None:
    """This taxpayer's verification for this taxpayer ID, if any."""
    return (
        await session.execute(
            select(Verification).where(
                Verification.taxpayer_id == taxpayer_id, Verification.tax_id == tax_id
            )
        )
    ).scalar_one_or_none()


async def handlers_of(session: AsyncSession, tax_id: str) -> Sequence[TaxHandler]:
    """The registered tax handlers of a taxpayer ID."""
    q = select(TaxHandler).where(TaxHandler.tax_id == tax_id).order_by(TaxHandler.id)
    return (await session.execute(q)).scalars().all()


async def handler(session: AsyncSession, tax_id: str, phone: str) -> TaxHandler | None:
    """One registered handler's row."""
    q = select(TaxHandler).where(TaxHandler.tax_id == tax_id, TaxHandler.phone == phone)
    return (await session.execute(q)).scalar_one_or_none()


async def tax_ids_of_phone(session: AsyncSession, phone: str) -> list[str]:
    """The taxpayer IDs whose handler list holds this (normalised) phone number."""
    q = select(TaxHandler.tax_id).where(TaxHandler.phone == phone).order_by(TaxHandler.tax_id)
    return sorted(set((await session.execute(q)).scalars().all()))


async def code_by_hash(session: AsyncSession, code_hash: str) -> VerificationCode | None:
    """A one-time code by its hash."""
    q = select(VerificationCode).where(VerificationCode.code_hash == code_hash)
    return (await session.execute(q)).scalar_one_or_none()


async def failed_attempts_since(session: AsyncSession, taxpayer_id: int, since: datetime) -> int:
    """How many verifications this taxpayer got wrong since `since`."""
    q = select(func.count(VerificationAttempt.id)).where(
        VerificationAttempt.taxpayer_id == taxpayer_id, VerificationAttempt.at >= since
    )
    return int((await session.execute(q)).scalar_one())


async def last_tax_id_of(session: AsyncSession, taxpayer_id: int) -> str | None:
    """The taxpayer ID this taxpayer used last, or None."""
    return (
        await session.execute(
            select(TaxpayerTaxId.tax_id)
            .where(TaxpayerTaxId.taxpayer_id == taxpayer_id)
            .order_by(TaxpayerTaxId.last_used_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def from_verified_chat(session: AsyncSession, case: Case) -> bool:
    """Whether the case's taxpayer (the chat that opened it) is verified for the taxpayer ID
    the case names (what staff see as 已验证 / 未验证)."""
    tax_id = (case.slots or {}).get("taxpayer_id")
    if not tax_id:
        return False
    return await verification(session, case.taxpayer_id, str(tax_id)) is not None
