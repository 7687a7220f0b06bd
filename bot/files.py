"""Getting the taxpayer's files from Telegram and handing them to the document intake.

Files are fetched with `getFile` through the configured Bot API server. The official server
serves at most 20 MB; a larger file is refused with a clear message before anything is
downloaded. A self-hosted server in local mode (`TELEGRAM_API_LOCAL=1`) serves up to 2000 MB
from its disk.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import Message

from actions.channel import InboundFile
from bot.convert import CHANNEL, pick
from bot.ports import AttachmentLinker, FileIntake
from taxrules.errors import UserFacingError

log = logging.getLogger(__name__)

OFFICIAL_LIMIT = 20 * 1024 * 1024
LOCAL_LIMIT = 2000 * 1024 * 1024


class FileTooLarge(UserFacingError):
    """The file is over the download limit of the Bot API server."""

    def __init__(self, size: int | None, limit: int, language_code: str | None = None) -> None:
        mb = limit // (1024 * 1024)
        super().__init__(
            f"file of {size} bytes over the {limit} byte limit",
            pick(
                language_code,
                f"文件超过 {mb} MB，请压缩后再发，或分页拍照发送。",
                f"文件超過 {mb} MB，請壓縮後再發，或分頁拍照發送。",
            ),
        )


class DownloadFailed(UserFacingError):
    """Telegram did not give us the file."""

    def __init__(self, reason: str, language_code: str | None = None) -> None:
        super().__init__(
            reason,
            pick(
                language_code,
                "文件没能下载下来，请稍后重新发送。",
                "文件沒能下載下來，請稍後重新發送。",
            ),
        )


@dataclass(frozen=True, slots=True)
class FileRef:
    """What a message says about its file, before downloading it."""

    file_id: str
    size: int | None
    filename: str | None
    declared_type: str | None


def file_ref(message: Message) -> FileRef | None:
    """The photo (largest size) or document of `message`, if any."""
    if message.photo:
        p = message.photo[-1]
        return FileRef(p.file_id, p.file_size, None, "image/jpeg")
    if message.document is not None:
        d = message.document
        return FileRef(d.file_id, d.file_size, d.file_name, d.mime_type)
    return None


class TelegramFileFetcher:
    """Downloads files through the configured Bot API server, within its size limit."""

    def __init__(self, *, local_server: bool = False, limit: int | None = None) -> None:
        self.limit = limit or (LOCAL_LIMIT if local_server else OFFICIAL_LIMIT)

    async def fetch(self, bot: Bot, ref: FileRef, language_code: str | None = None) -> bytes:
        """The file's bytes; `FileTooLarge` (before downloading) or `DownloadFailed`."""
        if ref.size is not None and ref.size > self.limit:
            raise FileTooLarge(ref.size, self.limit, language_code)
        try:
            tg_file = await bot.get_file(ref.file_id)
        except TelegramBadRequest as e:
            if "too big" in e.message:
                raise FileTooLarge(ref.size, self.limit, language_code) from e
            raise DownloadFailed(e.message, language_code) from e
        except (TelegramNetworkError, TelegramAPIError) as e:
            raise DownloadFailed(type(e).__name__, language_code) from e
        if tg_file.file_size is not None and tg_file.file_size > self.limit:
            raise FileTooLarge(tg_file.file_size, self.limit, language_code)
        if not tg_file.file_path:
            raise DownloadFailed("no file_path", language_code)
        buf = io.BytesIO()
        try:
            await bot.download_file(tg_file.file_path, buf)
        except Exception as e:  # aiohttp errors, or a missing local file in local mode
            raise DownloadFailed(type(e).__name__, language_code) from e
        return buf.getvalue()


class UploadIntake:
    """Fetches the files of one or more messages (an album) and passes each to the
    `FileIntake`; refused files become user-facing reasons instead of errors."""

    def __init__(
        self,
        fetcher: TelegramFileFetcher,
        intake: FileIntake,
        linker: AttachmentLinker | None = None,
    ) -> None:
        """`linker`: puts each accepted file on its message's inbound row (one row per
        Telegram message, so every file of an album is linked to its own row)."""
        self.fetcher = fetcher
        self.intake = intake
        self.linker = linker

    async def collect(
        self, bot: Bot, messages: Sequence[Message]
    ) -> tuple[list[InboundFile], list[str]]:
        """`(accepted files, reasons for refused ones)`, in message order."""
        results = await asyncio.gather(*(self._one(bot, m) for m in messages))
        files = [r for r in results if isinstance(r, InboundFile)]
        rejected = [r for r in results if isinstance(r, str)]
        return files, rejected

    async def accept(self, bot: Bot, message: Message) -> InboundFile | None:
        """The file of one message checked and stored, not linked to a taxpayer's message
        row (a document staff attach in their group); None when the message has no file;
        a refusal raises its `UserFacingError`."""
        ref = file_ref(message)
        if ref is None:
            return None
        data = await self.fetcher.fetch(bot, ref, None)
        return await self.intake.accept(data, ref.filename, ref.declared_type)

    async def _one(self, bot: Bot, message: Message) -> InboundFile | str | None:
        ref = file_ref(message)
        if ref is None:
            return None
        lang = message.from_user.language_code if message.from_user else None
        try:
            data = await self.fetcher.fetch(bot, ref, lang)
            accepted = await self.intake.accept(data, ref.filename, ref.declared_type)
        except UserFacingError as e:
            log.info("file refused: %s", type(e).__name__)
            return e.user_message
        if self.linker is not None:
            await self.linker.link(
                CHANNEL, str(message.chat.id), str(message.message_id), accepted.attachment_id
            )
        return accepted
