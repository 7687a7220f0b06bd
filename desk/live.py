"""What the console's live feed reads: the highest ids of the tables that change when a page
should (one statement; each is a primary-key max, cheap at any size)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.models import CaseEvent, Message, Outbox


async def latest_ids(session: AsyncSession) -> tuple[int, int, int]:
    """`(case_event, message, outbox)`: the highest id of each (0 when empty)."""
    row = (
        await session.execute(
            select(
                select(func.max(CaseEvent.id)).scalar_subquery(),
                select(func.max(Message.id)).scalar_subquery(),
                select(func.max(Outbox.id)).scalar_subquery(),
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)
