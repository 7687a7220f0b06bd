"""Button maps in the database: the short key in a button's callback data → its payload.

Used when `REDIS_URL` is not set (with Redis the bot keeps the map in aiogram's storage), so
a button still works after a restart and when another process sent it (the outbox worker's
rating buttons). Keys are content-derived (`bot.keyboards.payload_key`), so re-sending the
same buttons refreshes one row instead of adding rows. Rows older than `ttl` are ignored,
and swept at most once per `sweep_every` by the process that writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.models import ButtonPayload, utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(days=30)
SWEEP_EVERY = timedelta(hours=1)


class DeskButtonStore:
    """`bot.ports.ButtonStore` over the `button_payload` table (SQLite or PostgreSQL)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        channel: str = "telegram",
        ttl: timedelta = DEFAULT_TTL,
        sweep_every: timedelta = SWEEP_EVERY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._channel = channel
        self._ttl = ttl
        self._sweep_every = sweep_every
        self._clock = clock
        self._last_sweep: datetime | None = None

    async def put(self, chat_id: int, payloads: dict[str, str]) -> None:
        """Remember `key -> payload` for buttons just sent to `chat_id` (upsert: a re-sent
        button's row is refreshed)."""
        if not payloads:
            return
        now = self._clock()
        rows = [
            {
                "channel": self._channel,
                "chat_id": str(chat_id),
                "key": key,
                "payload": payload,
                "created_at": now,
            }
            for key, payload in payloads.items()
        ]
        async with self._sessions() as session:
            dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert(ButtonPayload).values(rows)
            stmt = stmt.on_conflict_do_update(
                index_elements=["channel", "chat_id", "key"],
                set_={"payload": stmt.excluded.payload, "created_at": stmt.excluded.created_at},
            )
            await session.execute(stmt)
            if self._last_sweep is None or now - self._last_sweep >= self._sweep_every:
                self._last_sweep = now
                result = await session.execute(
                    delete(ButtonPayload).where(ButtonPayload.created_at < now - self._ttl)
                )
                swept = getattr(result, "rowcount", 0) or 0
                if swept:
                    log.info("swept %d expired button payloads", swept)
            await session.commit()

    async def get(self, chat_id: int, key: str) -> str | None:
        """The payload of `key` in `chat_id`, or None if unknown or older than the TTL."""
        async with self._sessions() as session:
            payload = await session.scalar(
                select(ButtonPayload.payload).where(
                    ButtonPayload.channel == self._channel,
                    ButtonPayload.chat_id == str(chat_id),
                    ButtonPayload.key == key,
                    ButtonPayload.created_at >= self._clock() - self._ttl,
                )
            )
        return payload
