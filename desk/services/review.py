"""The admins' review inbox in the studio: what the NLU was unsure of, or staff flagged.

Reading and closing items is a supervisor's or an admin's (`permissions.PERMISSIONS["review"]`),
flagging a taxpayer's message is any staff member's (`"flag_for_review"`); the rule is checked
here, for every caller. A closed item keeps who closed it, when, and how (`resolution`: the
intent the text was taught as, or `out_of_scope`).
"""

from __future__ import annotations

from sqlalchemy import select

from desk.errors import NotFound, ReviewItemClosed
from desk.models import Message, ReviewItem
from desk.services.core import DeskCore

OUT_OF_SCOPE = "out_of_scope"
FLAGGED = "flagged"  # the `reason` of an item a staff member put in the inbox


class Review(DeskCore):
    """The review inbox of the studio (each method one transaction)."""

    async def review_inbox(self, staff_id: int, *, limit: int = 200) -> list[ReviewItem]:
        """The open items, newest first (supervisors and admins)."""
        await self._authorize(await self._staff(staff_id), "review")
        rows = list(
            (
                await self.session.execute(
                    select(ReviewItem)
                    .where(ReviewItem.status == "open")
                    .order_by(ReviewItem.id.desc())
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        await self._commit()
        return rows

    async def review_item(self, item_id: int, staff_id: int) -> ReviewItem:
        """One item, open or closed (supervisors and admins)."""
        await self._authorize(await self._staff(staff_id), "review")
        item = await self.session.get(ReviewItem, item_id)
        if item is None:
            raise await self._fail(NotFound("review item"))
        await self._commit()
        return item

    async def resolve_review_item(
        self, item_id: int, *, staff_id: int, resolution: str
    ) -> ReviewItem:
        """Close an open item: taught as the intent `resolution`, or `out_of_scope` (then its
        status is `ignored`). Raises `ReviewItemClosed` when someone closed it first."""
        member = await self._staff(staff_id)
        await self._authorize(member, "review")
        item = await self.session.get(ReviewItem, item_id, with_for_update=True)
        if item is None:
            raise await self._fail(NotFound("review item"))
        if item.status != "open":
            raise await self._fail(ReviewItemClosed(item_id))
        item.status = "ignored" if resolution == OUT_OF_SCOPE else "resolved"
        item.resolution = resolution[:128]
        item.resolved_by_id = member.id
        item.resolved_at = self.now()
        await self._commit()
        return item

    async def flag_for_review(self, message_id: int, *, staff_id: int) -> ReviewItem:
        """Put a taxpayer's message into the review inbox (any staff member); flagging the
        same message twice gives the open item already there."""
        member = await self._staff(staff_id)
        await self._authorize(member, "flag_for_review")
        message = await self.session.get(Message, message_id)
        if message is None or message.direction != "in" or not (message.text or "").strip():
            raise await self._fail(NotFound("message"))
        existing = (
            await self.session.execute(
                select(ReviewItem).where(
                    ReviewItem.message_id == message_id, ReviewItem.status == "open"
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            await self._commit()
            return existing
        item = ReviewItem(
            text=message.text,
            reason=FLAGGED,
            parse=None,
            conversation_id=message.conversation_id,
            message_id=message.id,
            status="open",
            created_at=self.now(),
        )
        self.session.add(item)
        await self._commit()
        return item
