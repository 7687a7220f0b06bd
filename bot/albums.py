"""Albums: Telegram delivers each item of an album (`media_group_id`) as its own update.
They are collected for a short quiet period so the dialogue sees one message with all files,
and the taxpayer gets one acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from aiogram.types import Message


@dataclass
class _Group:
    messages: list[Message]
    started: float
    key: tuple[int, str] = (0, "")
    poke: asyncio.Event = field(default_factory=asyncio.Event)


class AlbumCollector:
    """Groups the messages of one album.

    The handler of the first item to arrive waits until no new item came for `quiet`
    seconds (or `max_wait` passed) and gets the whole album; the handlers of the other
    items get None and do nothing. Handlers must run concurrently (aiogram polling does
    by default; the webhook handler processes each update in its own task).
    """

    def __init__(self, quiet: float = 0.8, max_wait: float = 10.0) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self._groups: dict[tuple[int, str], _Group] = {}

    async def collect(self, message: Message) -> list[Message] | None:
        """All messages of `message`'s album (for the first one), or None (for the rest).
        A message without `media_group_id` is returned alone."""
        if not message.media_group_id:
            return [message]
        group = self.claim(message)
        if group is None:
            return None
        return await self.settle(group)

    def claim(self, message: Message) -> _Group | None:
        """Without awaiting: add an album item to its album when one is being collected
        (None), or start collecting its album (the group, for `settle`). A caller that must
        take a lock or a place in a queue first claims before it waits, so the album's other
        items keep joining meanwhile."""
        assert message.media_group_id
        key = (message.chat.id, message.media_group_id)
        group = self._groups.get(key)
        if group is not None:
            group.messages.append(message)
            group.poke.set()
            return None
        group = _Group([message], time.monotonic(), key=key)
        self._groups[key] = group
        return group

    async def settle(self, group: _Group) -> list[Message]:
        """Wait until the claimed album had no new item for `quiet` seconds (or `max_wait`
        passed since its first item); its messages in order."""
        try:
            while True:
                group.poke.clear()
                left = self.max_wait - (time.monotonic() - group.started)
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(group.poke.wait(), min(self.quiet, left))
                except TimeoutError:
                    break
        finally:
            with contextlib.suppress(KeyError):
                del self._groups[group.key]
        return sorted(group.messages, key=lambda m: m.message_id)
