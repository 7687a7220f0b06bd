"""Settings and the container for tests that run the application on the local Bot API server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.container import Container
from app.settings import Settings
from testing.botapi_server import BotAPIServer

MakeContainer = Callable[..., Awaitable[Container]]
"""The type of the `make_container` fixture (tests/conftest.py)."""


def bot_settings(server: BotAPIServer | None = None, **overrides: Any) -> Settings:
    """Settings that read no `.env` and no environment defaults that matter: no Redis, no
    webhook, and (given `server`) the token and URL of the local Bot API server."""
    values: dict[str, Any] = {"redis_url": None, "webhook_url": None, "webhook_secret": None}
    if server is not None:
        values.update(telegram_bot_token=server.token, telegram_api_url=server.url)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
