"""The web chat's reads: a conversation's messages after an id (the stream and its reconnects)
and the one check of a download (a file of this conversation, or of a case of its taxpayer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from desk.models import Attachment, Case, Conversation, Message
from desk.services.core import DeskCore


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat as a channel shows it again."""

    id: int
    direction: str  # "in" | "out"
    text: str | None
    meta: dict[str, Any] | None
    file_name: str | None  # the taxpayer's upload (inbound rows with an attachment)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChatDocument:
    """A file the chat may download: where its bytes are and what to call it."""

    attachment_id: int
    storage_key: str
    media_type: str
    name: str


class WebChat(DeskCore):
    """Reads of one channel chat (each one transaction, nothing written)."""

    async def chat_messages(
        self,
        channel: str,
        chat_id: str,
        *,
        after_id: int = 0,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[ChatMessage]:
        """The chat's messages with an id above `after_id`, oldest first (at most `limit`).
        `since`: also those written at or after that time whatever their id — on PostgreSQL
        ids are taken before commit, so a row may become visible after a higher one; the
        caller skips the ids it already has."""
        convs = select(Conversation.id).where(
            Conversation.channel == channel, Conversation.chat_id == chat_id
        )
        newer = Message.id > after_id
        cond = or_(newer, Message.created_at >= since) if since is not None else newer
        rows = (
            await self.session.execute(
                select(
                    Message.id,
                    Message.direction,
                    Message.text,
                    Message.meta,
                    Attachment.original_name,
                    Message.created_at,
                )
                .outerjoin(Attachment, Attachment.id == Message.attachment_id)
                .where(Message.conversation_id.in_(convs.scalar_subquery()), cond)
                .order_by(Message.id)
                .limit(limit)
            )
        ).all()
        await self._commit()
        return [ChatMessage(*row) for row in rows]

    async def chat_document(
        self, channel: str, chat_id: str, attachment_id: int
    ) -> ChatDocument | None:
        """The attachment when this chat may download it: on a case of this chat's
        conversation or of its taxpayer, or sent in this chat. None otherwise (the caller
        answers 404: whether another chat's file exists is not told)."""
        conv = await self.session.scalar(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.chat_id == chat_id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        att = await self.session.get(Attachment, attachment_id) if conv is not None else None
        allowed = False
        if conv is not None and att is not None:
            if att.case_id is not None:
                case = await self.session.get(Case, att.case_id)
                allowed = case is not None and (
                    case.conversation_id == conv.id or case.taxpayer_id == conv.taxpayer_id
                )
            if not allowed:
                sent_here = await self.session.scalar(
                    select(Message.id)
                    .where(
                        Message.conversation_id == conv.id,
                        Message.attachment_id == attachment_id,
                    )
                    .limit(1)
                )
                allowed = sent_here is not None
        doc = None
        if allowed and att is not None:
            doc = ChatDocument(
                att.id, att.storage_key, att.media_type, att.original_name or f"文件{att.id}"
            )
        await self._commit()
        return doc
