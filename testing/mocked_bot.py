"""A Bot whose session answers locally and records every request (aiogram's
`tests/mocked_bot.py` style), for handler tests with `dp.feed_update`."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    GetFile,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, File, Message, User


class MockedSession(BaseSession):
    """Records requests; answers `sendMessage` with a message, `getFile` from `files`,
    and `True` for everything else. `errors[method_name]` raises the given exception once."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.files: dict[str, bytes] = {}
        self.errors: dict[str, Exception] = {}
        self._ids = itertools.count(100)

    async def close(self) -> None:
        pass

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        self.requests.append(method)
        name = type(method).__name__
        if name in self.errors:
            raise self.errors.pop(name)
        if isinstance(method, SendMessage):
            chat_id = int(method.chat_id)
            return Message(  # type: ignore[return-value]
                message_id=next(self._ids),
                date=int(time.time()),  # type: ignore[arg-type]  # pydantic converts it
                chat=Chat(id=chat_id, type="private" if chat_id > 0 else "supergroup"),
                from_user=User(id=bot.id, is_bot=True, first_name="bot"),
                text=method.text,
                reply_markup=method.reply_markup,  # type: ignore[arg-type]
            )
        if isinstance(method, GetFile):
            data = self.files[method.file_id]
            return File(  # type: ignore[return-value]
                file_id=method.file_id,
                file_unique_id="u" + method.file_id,
                file_size=len(data),
                file_path=f"files/{method.file_id}",
            )
        return True  # type: ignore[return-value]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        file_id = url.rsplit("/", 1)[-1]
        yield self.files[file_id]

    def of(self, method_type: type[TelegramMethod[Any]]) -> list[Any]:
        """The recorded requests of one type."""
        return [r for r in self.requests if isinstance(r, method_type)]


class MockedBot(Bot):
    """A Bot with a `MockedSession`."""

    session: MockedSession

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("token", "42:TEST"), session=MockedSession(), **kwargs)


__all__ = ["MockedBot", "MockedSession"]
