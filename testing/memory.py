"""In-memory implementations of the `bot.ports` Protocols, for tests and demos.

They keep the semantics the real adapters must have (duplicate updates refused), so tests
written against them say something about the wiring. The outbox has no fake: tests run the
real one (`desk.outbox`) on SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from actions.channel import InboundFile
from bot.ports import FileRejected, TopicCase, TopicFacts


@dataclass
class StoredUpdate:
    """One recorded update."""

    channel: str
    update_id: int
    chat_id: str | None
    user_id: str | None
    text: str | None
    raw: dict[str, Any]


class MemoryInboundStore:
    """`InboundStore` in a dict keyed by `(channel, update_id)`."""

    def __init__(self) -> None:
        self.updates: dict[tuple[str, int], StoredUpdate] = {}
        self.duplicates = 0
        self.fail_next = 0  # make the next N calls raise (storage down)

    async def record_update(
        self,
        channel: str,
        update_id: int,
        chat_id: str | None,
        user_id: str | None,
        text: str | None,
        raw: dict[str, Any],
    ) -> bool:
        """Store the update; False for a duplicate."""
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("inbound store unavailable")
        key = (channel, update_id)
        if key in self.updates:
            self.duplicates += 1
            return False
        self.updates[key] = StoredUpdate(channel, update_id, chat_id, user_id, text, raw)
        return True


@dataclass
class StoredAttachment:
    """What `MemoryFileIntake` kept of a file."""

    id: int
    data: bytes
    filename: str | None
    media_type: str
    sha256: str


class MemoryFileIntake:
    """`FileIntake` that accepts PDFs, JPEGs and PNGs by their magic bytes and keeps them."""

    _KINDS: ClassVar[dict[bytes, str]] = {
        b"%PDF": "application/pdf",
        b"\xff\xd8": "image/jpeg",
        b"\x89PNG": "image/png",
    }

    def __init__(self) -> None:
        self.attachments: dict[int, StoredAttachment] = {}

    async def accept(
        self, data: bytes, filename: str | None, declared_type: str | None
    ) -> InboundFile:
        """Store `data` if it looks like a PDF or an image; raise `FileRejected` otherwise."""
        if not data:
            raise FileRejected("文件是空的（0 字节），请重新发送。", reason="empty")
        media_type = next((t for magic, t in self._KINDS.items() if data.startswith(magic)), None)
        if media_type is None:
            raise FileRejected(
                "暂不支持这种文件，请发送 PDF 或 JPG/PNG 照片。", reason="unsupported_type"
            )
        att_id = len(self.attachments) + 1
        self.attachments[att_id] = StoredAttachment(
            att_id, data, filename, media_type, hashlib.sha256(data).hexdigest()
        )
        return InboundFile(
            attachment_id=att_id, media_type=media_type, original_name=filename, size=len(data)
        )


class MemoryTopics:
    """`bot.ports.TopicStore` in memory; the first saved topic of a conversation wins."""

    def __init__(self) -> None:
        self.topics: dict[int, int] = {}
        self.relays: list[tuple[int, str, int, int, int]] = []
        self.cards: dict[int, int] = {}

    async def topic(self, conversation_id: int) -> int | None:
        await asyncio.sleep(0)
        return self.topics.get(conversation_id)

    async def save_topic(self, conversation_id: int, staff_chat_id: int, thread_id: int) -> int:
        await asyncio.sleep(0)
        return self.topics.setdefault(conversation_id, thread_id)

    async def save_card(self, conversation_id: int, message_id: int) -> None:
        self.cards[conversation_id] = message_id

    async def card(self, conversation_id: int) -> int | None:
        return self.cards.get(conversation_id)

    async def forget_topic(self, conversation_id: int, thread_id: int) -> None:
        if self.topics.get(conversation_id) == thread_id:
            del self.topics[conversation_id]

    async def facts(self, conversation_id: int) -> TopicFacts:
        await asyncio.sleep(0.01)  # widen the race window
        return TopicFacts(
            conversation_id,
            "张三",
            "9144********0001",
            "human",
            (
                TopicCase(
                    "TX-2026-000007", "完税证明", "queued", datetime(2026, 12, 3, 10, tzinfo=UTC)
                ),
            ),
        )

    async def record_relay(self, *row: object) -> None:
        self.relays.append(row)  # type: ignore[arg-type]
