"""Queries over the desk's tables. Repositories only read and add; they never commit
(the services own the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
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
    TaxpayerTaxId,
)
from desk.states import ACTIVE_STATUSES, OPEN_STATUSES, RESULT_STATUSES


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
    q = select(Case)
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
    q = q.order_by(Case.deadline_at.asc().nulls_last(), Case.id.asc()).limit(limit).offset(offset)
    return (await session.execute(q)).scalars().all()


async def cases_of(
    session: AsyncSession, taxpayer_id: int, *, closed_since: datetime, closed_limit: int
) -> Sequence[Case]:
    """The taxpayer's open cases (drafts included), oldest first, then at most `closed_limit`
    done or rejected cases closed since `closed_since`, latest first: what "进度" shows."""
    open_ = (
        (
            await session.execute(
                select(Case)
                .where(Case.taxpayer_id == taxpayer_id, Case.status.in_(sorted(OPEN_STATUSES)))
                .order_by(Case.id)
            )
        )
        .scalars()
        .all()
    )
    closed = (
        (
            await session.execute(
                select(Case)
                .where(
                    Case.taxpayer_id == taxpayer_id,
                    Case.status.in_(sorted(RESULT_STATUSES)),
                    Case.closed_at >= closed_since,
                )
                .order_by(Case.closed_at.desc(), Case.id.desc())
                .limit(closed_limit)
            )
        )
        .scalars()
        .all()
    )
    return [*open_, *closed]


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
