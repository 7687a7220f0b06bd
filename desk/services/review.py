"""The admins' review inbox in the studio: what the NLU was unsure of, or staff flagged.

Reading and closing items is a supervisor's or an admin's (`permissions.PERMISSIONS["review"]`),
flagging a taxpayer's message is any staff member's (`"flag_for_review"`); the rule is checked
here, for every caller. A closed item keeps who closed it, when, and how (`resolution`: the
intent the text was taught as, or `out_of_scope`).
"""

from __future__ import annotations

from sqlalchemy import func, select

from desk.errors import NotFound, NothingToReview, ReviewItemClosed
from desk.models import Message, RelayedMessage, ReviewItem
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

    async def flag_for_review(
        self, message_id: int, *, staff_id: int, conversation_id: int | None = None
    ) -> ReviewItem:
        """Put a taxpayer's message into the review inbox (any staff member); flagging the
        same message twice gives the open item already there. `conversation_id`: the
        conversation the caller shows, which the message must belong to."""
        await self._authorize(await self._staff(staff_id), "flag_for_review")
        return await self._flag(message_id, conversation_id)

    async def _flag(self, message_id: int, conversation_id: int | None) -> ReviewItem:
        """`flag_for_review` once the caller may flag (`NotFound`: not a taxpayer's words,
        or not of `conversation_id`)."""
        message = await self.session.get(Message, message_id)
        if (
            message is None
            or message.direction != "in"
            or not (message.text or "").strip()
            or (conversation_id is not None and message.conversation_id != conversation_id)
        ):
            raise await self._fail(NotFound("message"))
        # the open item of this message, or the one the NLU filed for the same words of the
        # same conversation (its fallbacks are filed without the message's id)
        existing = (
            await self.session.execute(
                select(ReviewItem)
                .where(
                    ReviewItem.status == "open",
                    (ReviewItem.message_id == message_id)
                    | (
                        ReviewItem.message_id.is_(None)
                        & (ReviewItem.conversation_id == message.conversation_id)
                        & (ReviewItem.text == message.text)
                    ),
                )
                .order_by(ReviewItem.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if existing is not None:
            existing.message_id = message_id
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

    async def flag_in_topic(
        self,
        conversation_id: int,
        *,
        staff_id: int,
        staff_chat_id: int,
        quoted: int | None = None,
    ) -> ReviewItem:
        """`/review` in a taxpayer's staff topic: flag the taxpayer message whose copy the
        command quotes (`quoted`, a topic message id), or without a quote the taxpayer's
        latest text message. Raises `NothingToReview` when there is no such text."""
        member = await self._staff(staff_id)
        await self._authorize(member, "flag_for_review")
        found: int | None
        if quoted is not None:
            original = await self.session.scalar(
                select(RelayedMessage.taxpayer_message_id).where(
                    RelayedMessage.conversation_id == conversation_id,
                    RelayedMessage.direction == "to_staff",
                    RelayedMessage.staff_chat_id == staff_chat_id,
                    RelayedMessage.staff_message_id == quoted,
                )
            )
            found = None
            if original is not None:
                found = await self.session.scalar(
                    select(Message.id).where(
                        Message.conversation_id == conversation_id,
                        Message.direction == "in",
                        Message.channel_message_id == str(original),
                    )
                )
        else:
            found = await self.session.scalar(
                select(Message.id)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == "in",
                    Message.text.is_not(None),
                    Message.text != "",
                    ~Message.text.startswith("/"),  # a pressed button's payload
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        if found is None:
            raise await self._fail(NothingToReview())
        try:
            return await self._flag(found, conversation_id)
        except NotFound:  # a file without words
            raise NothingToReview() from None

    async def taxpayer_texts(self, staff_id: int, *, limit: int = 1000) -> list[tuple[int, str]]:
        """The latest distinct words taxpayers wrote, newest first, as (message id, text):
        where the studio looks for more examples of an intent (supervisors and admins).
        Pressed buttons' payloads (`/…`) are left out."""
        await self._authorize(await self._staff(staff_id), "review")
        newest = func.max(Message.id)
        rows = await self.session.execute(
            select(newest, Message.text)
            .where(
                Message.direction == "in",
                Message.text.is_not(None),
                Message.text != "",
                ~Message.text.startswith("/"),
            )
            .group_by(Message.text)
            .order_by(newest.desc())
            .limit(limit)
        )
        texts = [(int(i), str(t)) for i, t in rows.all()]
        await self._commit()
        return texts

    async def taxpayer_text(self, message_id: int, staff_id: int) -> str:
        """The words of one taxpayer message (supervisors and admins), for the studio to add
        as an example; `NotFound` for anything else."""
        await self._authorize(await self._staff(staff_id), "review")
        message = await self.session.get(Message, message_id)
        if message is None or message.direction != "in" or not (message.text or "").strip():
            raise await self._fail(NotFound("message"))
        await self._commit()
        return str(message.text)
