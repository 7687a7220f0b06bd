"""Echo-like fakes of the dialogue for the Telegram tests: they prove the wiring, not the
conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from actions.channel import Button, Deliver, InboundMessage, Reply
from actions.locks import KeyedLocks

LONG_PAYLOAD = '/choose_case_type{"case_type":"return_correction","note":"' + "x" * 60 + '"}'


class EchoDialogue:
    """Replies `echo: <text>`; special texts ask for a long reply, buttons or a slow turn.
    Like `DialogueEngine`, it runs one chat's turns (and their `deliver`) one at a time."""

    def __init__(self) -> None:
        self.calls: list[InboundMessage] = []
        self.delay = 0.0
        self.slow: dict[str, float] = {}  # text -> seconds this turn takes
        self.raise_next: Exception | None = None
        self.locks = KeyedLocks()
        self.with_staff: set[str] = set()  # chats whose conversation is with staff

    def texts(self) -> list[str | None]:
        return [c.text for c in self.calls]

    async def handle(
        self,
        msg: InboundMessage,
        *,
        deliver: Deliver | None = None,
        with_staff: Callable[[], Awaitable[None]] | None = None,
    ) -> list[Reply]:
        async with self.locks.hold(msg.chat_id):
            replies = await self._replies(msg)
            if deliver is not None:
                await deliver(replies)
            if with_staff is not None and msg.chat_id in self.with_staff:
                await with_staff()
            return replies

    async def _replies(self, msg: InboundMessage) -> list[Reply]:
        self.calls.append(msg)
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc
        if self.delay or (msg.text or "") in self.slow:
            await asyncio.sleep(self.slow.get(msg.text or "", self.delay))
        if msg.is_button:
            return [Reply(f"pressed: {msg.text}")]
        if msg.files or msg.rejected_files:
            lines = [f"收到 {len(msg.files)} 个文件"]
            lines += [f"- {f.media_type} {f.size}" for f in msg.files]
            lines += list(msg.rejected_files)
            if msg.text:
                lines.append(f"caption: {msg.text}")
            return [Reply("\n".join(lines))]
        if msg.text == "long":
            return [Reply(long_text())]
        if msg.text == "buttons":
            return [
                Reply(
                    "要提交吗？",
                    buttons=((Button("提交", LONG_PAYLOAD), Button("取消", "/cancel_request")),),
                )
            ]
        if msg.text == "silent":
            return []
        return [Reply(f"echo: {msg.text}")]


def long_text() -> str:
    """About 6,000 characters in 100 numbered lines."""
    return "\n".join(f"{i:03d} " + "税" * 56 for i in range(100))
