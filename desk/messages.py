"""Inbound message rows and their attachments.

The inbound row of a Telegram message is stored (by `update_id`) before its file is
downloaded and checked; once the file is an attachment, `link_attachment` puts its id on that
row, so every file of an upload or an album sits on its own message row.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.models import Message


async def link_attachment(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str,
    channel_message_id: str,
    attachment_id: int,
) -> int:
    """Set `attachment_id` on the inbound rows of that channel message that have none yet
    (an edit of the message is a row of its own); the number of rows changed. Commits."""
    result = await session.execute(
        update(Message)
        .where(
            Message.direction == "in",
            Message.channel == channel,
            Message.chat_id == chat_id,
            Message.channel_message_id == channel_message_id,
            Message.attachment_id.is_(None),
        )
        .values(attachment_id=attachment_id)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


class DeskAttachmentLinker:
    """`bot.ports.AttachmentLinker` over `link_attachment`, one session per call."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def link(
        self, channel: str, chat_id: str, channel_message_id: str, attachment_id: int
    ) -> None:
        """Link the stored attachment to the inbound row of the channel message."""
        async with self._sessions() as session:
            await link_attachment(
                session,
                channel=channel,
                chat_id=chat_id,
                channel_message_id=channel_message_id,
                attachment_id=attachment_id,
            )
