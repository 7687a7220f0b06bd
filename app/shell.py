"""The terminal channel: talk to the dialogue as a taxpayer, against the same database.

Notices to this chat (a completion with its rating buttons and documents, a staff question,
a rejection, a staff member's message) appear as Telegram would show them: the shell runs an
outbox worker for its own chat (`ShellNoticeSender`), so `main.py cases complete ...` from
another terminal reaches it.

Each line is a message. `/upload PATH [caption]` sends a file through the same intake as
Telegram (content checks, attachment store); `/contact PHONE` shares the user's own phone
number, as Telegram's contact button does. Buttons are printed as numbered choices; typing
the number presses one. `/start /help /status /cancel /human` work as on Telegram. It reads
from a pipe too: `printf '我要开完税证明\\n' | python main.py shell`.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from actions.channel import COMMANDS as MENU
from actions.channel import Button, InboundFile, InboundMessage, Reply, SharedContact
from app.container import Container
from bot.notices import render_notice, traditional_staff_words
from bot.ports import MessageRecorder
from desk.outbox import Delivered, OutboxItem, OutboxWorker, serve
from taxrules.errors import UserFacingError
from taxrules.phones import mask_phone

log = logging.getLogger(__name__)

CHANNEL = "shell"
#: The Telegram menu commands and the dialogue payloads they stand for.
COMMANDS: dict[str, str] = {f"/{c}": payload for c, (_, payload) in MENU.items()}
UNDECODABLE = "（这一行有无法识别的字节，不是 UTF-8 编码，已用 � 代替。请用 UTF-8 输入。）"
HELP = (
    "taxdesk 终端：每行是一条消息；/upload 路径 [说明] 发送文件；/contact 手机号 分享本人手机号；"
    "输入按钮前的数字即按下按钮；"
    "/exit 或 Ctrl-D 退出。"
)


def clean_line(line: str) -> tuple[str, bool]:
    """`(line, replaced)`: undecodable bytes (read as lone surrogates) become U+FFFD, so
    nothing downstream (the database, the terminal) meets text it cannot encode."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        raw = line.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "replace"), True
    return line, False


class ShellNoticeSender:
    """`desk.outbox.Sender` for the shell's own chat: prints each notice as the bot would
    send it (in the taxpayer's script, buttons numbered so typing the number presses them,
    produced documents named with where they are stored)."""

    def __init__(self, shell: ShellChannel) -> None:
        self.shell = shell

    async def send(self, row: OutboxItem) -> Delivered:
        """Print one notice; `Delivered` records it with the conversation's messages."""
        shell = self.shell
        engine = shell.container.dialogue_engine
        if row.kind in ("staff_copy", "staff_edit"):
            said = str(row.payload.get("text") or "（工作人员发送了一个文件）")
            edited = "（修改）" if row.kind == "staff_edit" else ""
            shell._write(f"工作人员{edited}> {said}")
            return Delivered(text=said)
        script = "hans"
        if engine is not None:
            tracker = await engine.tracker(CHANNEL, shell.chat_id)
            script = tracker.script if tracker is not None and tracker.script else "hans"
            if row.kind == "case_question":
                await engine.note_staff_question(
                    CHANNEL, shell.chat_id, str(row.payload.get("case_number") or "")
                )
        reply = render_notice(row.payload, script)
        if script == "hant" and engine is not None:
            reply = traditional_staff_words(reply, row.payload, engine.scripts)
        shell._show([reply], prefix="通知")
        data_dir = Path(shell.container.settings.data_dir) / "attachments"
        for doc in row.payload.get("documents") or []:
            where = data_dir / str(doc.get("storage_key") or "")
            shell._write(f"        📎 {doc.get('name')}（文件：{where}）")
        return Delivered(text=reply.text)


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
        self.notices: OutboxWorker | None = None
        if container.runtime is not None:
            self.notices = OutboxWorker(
                container.runtime.sessions,
                ShellNoticeSender(self),
                channel=CHANNEL,
                chat_id=chat_id,
                poll_interval=container.outbox_poll_interval,
            )

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _interactive(self) -> bool:
        try:
            return self.stdin.isatty()
        except ValueError:
            return False

    async def run(self) -> int:
        """Read lines until EOF or `/exit`; 0. Bytes that are not UTF-8 never end the
        shell: they are read as surrogates and replaced (see `clean_line`)."""
        reconfigure = getattr(self.stdin, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="surrogateescape")
            except (ValueError, OSError):  # not a text stream we may change
                log.debug("stdin kept its error handler")
        interactive = self._interactive()
        if interactive:
            self._write(HELP)
        stop = asyncio.Event()
        notices = None
        if self.notices is not None and self.container.runtime is not None:
            notices = asyncio.create_task(
                serve(self.container.runtime.engine, self.notices, stop, name="shell notices")
            )
        try:
            return await self._read_lines(interactive)
        finally:
            stop.set()
            if notices is not None:
                await notices

    async def _read_lines(self, interactive: bool) -> int:
        while True:
            if interactive:
                self.stdout.write("您> ")
                self.stdout.flush()
            try:
                line = await asyncio.to_thread(self.stdin.readline)
            except UnicodeDecodeError:  # a stream that could not be told to keep the bytes
                self._write(UNDECODABLE)
                continue
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
        """One line: a button number, an upload, a command or text. A line with bytes that
        are not UTF-8 is said so and goes on with them replaced."""
        line, replaced = clean_line(line)
        if replaced:
            self._write(UNDECODABLE)
            if not line.replace("\ufffd", "").strip():
                return []
        msg = await self._inbound(line)
        if msg is None:
            return []
        await self.recorder.record_message(
            CHANNEL,
            self.chat_id,
            self.chat_id,
            f"[联系人 {mask_phone(msg.contact.phone)}]" if msg.contact else line,
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
        if line.startswith("/contact"):  # the contact button: this terminal user's own number
            phone = line.removeprefix("/contact").strip()
            if not phone:
                self._write("用法：/contact 手机号（分享本人的手机号，同 Telegram 的联系人按钮）")
                return None
            return replace(self._message(None), contact=SharedContact(phone, self.chat_id))
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

    async def show_notices(self) -> int:
        """Show the notices due for this chat now (what the background worker does every
        `outbox_poll_interval`); how many rows were taken."""
        return await self.notices.run_once() if self.notices is not None else 0

    def _show(self, replies: list[Reply], *, prefix: str = "机器人") -> None:
        self.buttons = []
        for reply in replies:
            if reply.document is not None:  # as Telegram would: the file, its caption under it
                self._write(f"{prefix}> 📎 {reply.document.name}（文件：{reply.document.path}）")
            self._write(f"{prefix}> {reply.text}")
            labels = []
            for row in reply.buttons:
                for button in row:
                    self.buttons.append(button)
                    how = "（输入 /contact 手机号）" if button.request_contact else ""
                    labels.append(f"[{len(self.buttons)}] {button.title}{how}")
            if labels:
                self._write("        " + "  ".join(labels))
