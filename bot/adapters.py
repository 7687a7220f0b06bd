"""The Telegram side's ports (`bot.ports`) over the case backend, one session per call.

* `DeskInboundStore` — every update becomes a `message` row (idempotent on `update_id`),
  committed before the update is acted on.
* `DeskFileIntake` — content checks (`intake.documents`), then the sanitised bytes and the
  thumbnail go to the attachment store and an `attachment` row.
* `DeskOutboundStore` — what the bot sent, as outbound `message` rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from actions.channel import InboundFile
from actions.desk_gateway import DeskConversations
from intake.documents import DEFAULT_MAX_BYTES, inspect_upload_async
from intake.storage import LocalAttachmentStore

log = logging.getLogger(__name__)


class DeskInboundStore:
    """`bot.ports.InboundStore` over `Desk.ensure_conversation` + `Desk.record_inbound`."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def record_update(
        self,
        channel: str,
        update_id: int,
        chat_id: str | None,
        user_id: str | None,
        text: str | None,
        raw: dict[str, Any],
    ) -> bool:
        """Store the update as an inbound message row; False if it was stored before.
        Only taxpayers' private chats are conversations: updates from groups (staff topics,
        a later issue) or without a chat are passed on unstored, and no handler of the
        taxpayer chat acts on them."""
        query = raw.get("callback_query") or {}
        message = raw.get("message") or raw.get("edited_message") or query.get("message") or {}
        if chat_id is None or (message.get("chat") or {}).get("type") != "private":
            return True
        if query:
            message = {}  # the bot's own message the button sits under
        user = message.get("from") or query.get("from") or {}
        return await self.record_message(
            channel,
            chat_id,
            user_id,
            text,
            update_id=str(update_id),
            channel_message_id=str(message["message_id"]) if "message_id" in message else None,
            display_name=user.get("first_name"),
        )

    async def record_message(
        self,
        channel: str,
        chat_id: str,
        user_id: str | None,
        text: str | None,
        *,
        update_id: str | None = None,
        channel_message_id: str | None = None,
        display_name: str | None = None,
        attachment_id: int | None = None,
    ) -> bool:
        """Store one inbound message (any channel), committed when this returns (group
        commit, `desk.batch`); False for a repeated `update_id`."""
        ref = await self.conversations.ref(channel, chat_id, user_id, display_name=display_name)
        assert ref is not None
        return await self.conversations.writes.record_inbound(
            ref.id,
            channel,
            chat_id,
            text=text,
            update_id=update_id,
            channel_message_id=channel_message_id,
            attachment_id=attachment_id,
        )


class DeskOutboundStore:
    """Records what the bot sent (`Desk.record_outbound`)."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def record_sent(
        self,
        channel: str,
        chat_id: str,
        texts: list[tuple[str | None, str | None]],
        *,
        outbox_key: str | None = None,
    ) -> None:
        """Store `(text, channel message id)` pairs as outbound rows of the chat (group
        commit, `desk.batch`)."""
        ref = await self.conversations.ref(channel, chat_id)
        assert ref is not None
        await self.conversations.writes.record_outbound(
            ref.id, channel, chat_id, texts, outbox_key=outbox_key
        )


class DeskFileIntake:
    """`bot.ports.FileIntake`: `inspect_upload_async` (off the event loop), then the checked
    bytes and thumbnail into `LocalAttachmentStore(data_dir / "attachments")` and a row."""

    def __init__(
        self,
        conversations: DeskConversations,
        data_dir: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """`max_bytes`: the largest file checked (20 MB, what the official Bot API serves;
        more with a self-hosted `--local` server)."""
        self.conversations = conversations
        self.store = LocalAttachmentStore(Path(data_dir) / "attachments")
        self.max_bytes = max_bytes

    async def accept(
        self, data: bytes, filename: str | None, declared_type: str | None
    ) -> InboundFile:
        """Check and store; `intake.documents.DocumentRejected` (a `UserFacingError`)."""
        doc = await inspect_upload_async(
            data, filename=filename, declared_type=declared_type, max_bytes=self.max_bytes
        )
        async with self.conversations.desk() as desk:
            att = await desk.store_attachment(
                self.store,
                doc.data,
                media_type=doc.media_type,
                suffix=doc.suggested_extension,
                original_name=doc.original_name,
                thumbnail=doc.thumbnail,
                page_count=doc.page_count,
            )
        return InboundFile(
            attachment_id=att.id,
            media_type=doc.media_type,
            original_name=doc.original_name,
            size=doc.size,
            page_count=doc.page_count,
        )
