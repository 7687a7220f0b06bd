"""The terminal channel: talk to the dialogue as a taxpayer, against the same database.

Each line is a message. `/upload PATH [caption]` sends a file through the same intake as
Telegram (content checks, attachment store). Buttons are printed as numbered choices; typing
the number presses one. `/start /help /status /cancel /human` work as on Telegram. It reads
from a pipe too: `printf '我要开完税证明\\n' | python main.py shell`.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from actions.channel import Button, InboundFile, InboundMessage, Reply
from app.container import Container
from handlers.taxpayer import COMMANDS as MENU
from taxrules.errors import UserFacingError

log = logging.getLogger(__name__)

CHANNEL = "shell"
#: The Telegram menu commands and the dialogue payloads they stand for.
COMMANDS: dict[str, str] = {f"/{c}": payload for c, (_, payload) in MENU.items()}
HELP = (
    "taxdesk 终端：每行是一条消息；/upload 路径 [说明] 发送文件；输入按钮前的数字即按下按钮；"
    "/exit 或 Ctrl-D 退出。"
)


@runtime_checkable
class MessageRecorder(Protocol):
    """An inbound store that records a message of any channel (`DeskInboundStore`)."""

    async def record_message(
        self,
        channel: str,
        chat_id: str,
        user_id: str | None,
        text: str | None,
        *,
        attachment_id: int | None = None,
    ) -> bool:
        """Store one inbound message; False for a repeat."""
        ...


class ShellChannel:
    """One taxpayer chat in the terminal (`chat_id` names the conversation)."""

    def __init__(
        self,
        container: Container,
        *,
        chat_id: str = "terminal",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        """`container.inbound` must record messages of any channel (the desk's store)."""
        if not isinstance(container.inbound, MessageRecorder):
            raise TypeError("the shell needs an inbound store with record_message()")
        self.container = container
        self.recorder: MessageRecorder = container.inbound
        self.chat_id = chat_id
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.buttons: list[Button] = []

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _interactive(self) -> bool:
        try:
            return self.stdin.isatty()
        except ValueError:
            return False

    async def run(self) -> int:
        """Read lines until EOF or `/exit`; 0."""
        interactive = self._interactive()
        if interactive:
            self._write(HELP)
        while True:
            if interactive:
                self.stdout.write("您> ")
                self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            await self.turn(text)
        return 0

    async def turn(self, line: str) -> list[Reply]:
        """One line: a button number, an upload, a command or text."""
        msg = await self._inbound(line)
        if msg is None:
            return []
        await self.recorder.record_message(
            CHANNEL,
            self.chat_id,
            self.chat_id,
            line,
            attachment_id=msg.files[0].attachment_id if msg.files else None,
        )
        replies = await self.container.engine.handle(msg)
        self._show(replies)
        outbound = self.container.outbound
        if replies and outbound is not None:
            try:
                await outbound.record_sent(
                    CHANNEL, self.chat_id, [(r.text, None) for r in replies]
                )
            except Exception:
                log.exception("replies shown but not recorded")
        return replies

    def _message(
        self,
        text: str | None,
        *,
        files: tuple[InboundFile, ...] = (),
        rejected: tuple[str, ...] = (),
        is_button: bool = False,
    ) -> InboundMessage:
        return InboundMessage(
            channel=CHANNEL,
            chat_id=self.chat_id,
            user_id=self.chat_id,
            text=text,
            files=files,
            rejected_files=rejected,
            is_button=is_button,
        )

    async def _inbound(self, line: str) -> InboundMessage | None:
        if line.isdigit() and self.buttons:
            n = int(line)
            if 1 <= n <= len(self.buttons):
                return self._message(self.buttons[n - 1].payload, is_button=True)
        if line.startswith("/upload"):
            return await self._upload(line)
        command = line.split()[0].lower()
        if command in COMMANDS:
            return self._message(COMMANDS[command])
        return self._message(line)

    async def _upload(self, line: str) -> InboundMessage | None:
        try:
            parts = shlex.split(line)
        except ValueError:
            parts = line.split()
        if len(parts) < 2:
            self._write("用法：/upload 文件路径 [说明]")
            return None
        path = await asyncio.to_thread(lambda: Path(parts[1]).expanduser())
        caption = " ".join(parts[2:]) or None
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as e:
            self._write(f"读不到文件 {path}：{e.strerror or e}")
            return None
        files: tuple[InboundFile, ...] = ()
        rejected: tuple[str, ...] = ()
        try:
            files = (await self.container.intake.accept(data, path.name, None),)
        except UserFacingError as e:
            rejected = (e.user_message,)
        return self._message(caption, files=files, rejected=rejected)

    def _show(self, replies: list[Reply]) -> None:
        self.buttons = []
        for reply in replies:
            if reply.document is not None:  # as Telegram would: the file, its caption under it
                self._write(f"机器人> 📎 {reply.document.name}（文件：{reply.document.path}）")
            self._write(f"机器人> {reply.text}")
            labels = []
            for row in reply.buttons:
                for button in row:
                    self.buttons.append(button)
                    labels.append(f"[{len(self.buttons)}] {button.title}")
            if labels:
                self._write("        " + "  ".join(labels))
