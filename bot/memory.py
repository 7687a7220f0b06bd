"""In-memory implementations of the `bot.ports` Protocols, for tests and demos.

They keep the semantics the real adapters must have (duplicate updates refused, outbox rows
claimed once until retried), so tests written against them say something about the wiring.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from actions.channel import InboundFile
from bot.ports import FileRejected, OutboxNotice


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


@dataclass
class _OutboxRow:
    notice: OutboxNotice
    due: float
    state: str = "pending"  # pending | claimed | sent | failed
    external_id: str | None = None
    errors: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)


class MemoryOutbox:
    """`OutboxSource` in memory, with the same claim / retry semantics as the real outbox."""

    def __init__(self) -> None:
        self.rows: dict[int, _OutboxRow] = {}
        self._ids = 0
        self._lock = asyncio.Lock()
        self.changed = asyncio.Event()

    def add(self, chat_id: str, text: str, *, key: str | None = None, **kw: Any) -> OutboxNotice:
        """Queue a notice (what the case backend does when staff complete a case)."""
        self._ids += 1
        notice = OutboxNotice(
            id=self._ids,
            idempotency_key=key or f"notice-{self._ids}",
            channel="telegram",
            chat_id=chat_id,
            text=text,
            **kw,
        )
        self.rows[notice.id] = _OutboxRow(notice, due=time.monotonic())
        return notice

    async def claim_due(self, channel: str, limit: int) -> list[OutboxNotice]:
        """Claim due pending notices of `channel`."""
        async with self._lock:
            now = time.monotonic()
            out: list[OutboxNotice] = []
            for row in self.rows.values():
                if len(out) >= limit:
                    break
                if row.state == "pending" and row.due <= now and row.notice.channel == channel:
                    row.state = "claimed"
                    row.notice = replace(row.notice, attempts=row.notice.attempts + 1)
                    out.append(row.notice)
            return out

    async def mark_sent(self, notice_id: int, *, external_id: str | None = None) -> None:
        """Mark delivered."""
        row = self.rows[notice_id]
        row.state, row.external_id = "sent", external_id
        self.changed.set()

    async def retry_later(self, notice_id: int, *, delay: float, error: str) -> None:
        """Back to pending after `delay` seconds."""
        row = self.rows[notice_id]
        row.state, row.due = "pending", time.monotonic() + delay
        row.errors.append(error)
        row.delays.append(delay)
        self.changed.set()

    async def mark_failed(self, notice_id: int, *, error: str) -> None:
        """Give up on this notice."""
        row = self.rows[notice_id]
        row.state = "failed"
        row.errors.append(error)
        self.changed.set()

    def state(self, notice_id: int) -> str:
        """The row's state, for tests."""
        return self.rows[notice_id].state
