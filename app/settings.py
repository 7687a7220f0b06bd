"""Typed deployment settings, read from environment variables (and an optional `.env`).

Secrets are `SecretStr`. Nothing here is read at import time: the composition root
(`main.py`) builds one `Settings` and passes what each part needs.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Deployment configuration. Environment variable names are given in `README.md`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        default=Path("var"), validation_alias=AliasChoices("TAXDESK_DATA_DIR", "data_dir")
    )
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url")
    )
    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "telegram_bot_token")
    )
    telegram_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_API_URL", "telegram_api_url")
    )
    telegram_api_local: bool = Field(
        default=False,
        validation_alias=AliasChoices("TELEGRAM_API_LOCAL", "telegram_api_local"),
        description="TELEGRAM_API_URL is a self-hosted server started with --local "
        "(files up to 2000 MB, read from its disk).",
    )
    webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("WEBHOOK_URL", "webhook_url")
    )
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WEBHOOK_SECRET", "webhook_secret")
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("TAXDESK_HOST", "host"))
    port: int = Field(default=8080, validation_alias=AliasChoices("TAXDESK_PORT", "port"))
    public_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TAXDESK_PUBLIC_URL", "public_url"),
        description="The address taxpayers and staff open (https://… behind a proxy): "
        "session cookies are Secure when it is https.",
    )
    console_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CONSOLE_SECRET", "console_secret"),
        description="Key of the encrypted session cookie (a Fernet key). Unset: one is made "
        "once in the data directory (console.key).",
    )
    chat_frame_ancestors: str = Field(
        default="'self'",
        validation_alias=AliasChoices("CHAT_FRAME_ANCESTORS", "chat_frame_ancestors"),
        description="Sites that may embed the web chat (CSP frame-ancestors), e.g. "
        "\"'self' https://www.example.gov.cn\".",
    )
    nlu_config: Path = Field(
        default=Path("config.yml"),
        validation_alias=AliasChoices("TAXDESK_NLU_CONFIG", "nlu_config"),
    )
    models_dir: Path = Field(
        default=Path("models"), validation_alias=AliasChoices("TAXDESK_MODELS_DIR", "models_dir")
    )
    staff_chat_id: int | None = Field(
        default=None,
        validation_alias=AliasChoices("STAFF_CHAT_ID", "staff_chat_id"),
        description="The staff forum supergroup's chat id (negative, -100…; the bot an admin "
        "that may manage topics and pin messages): one topic per taxpayer conversation, the "
        "hand-over relay. Unset: no staff chat; a hand-over then promises an answer within "
        "office hours, not a transfer.",
    )
    handoff_idle_minutes: float = Field(
        default=30,
        gt=0,
        validation_alias=AliasChoices("HANDOFF_IDLE_MINUTES", "handoff_idle_minutes"),
        description="A conversation handed to staff returns to the bot (and the taxpayer is "
        "told) after this many minutes without a message from staff or taxpayer.",
    )
    staff_digest_time: time | None = Field(
        default=time(8, 30),
        validation_alias=AliasChoices("STAFF_DIGEST_TIME", "staff_digest_time"),
        description="With STAFF_CHAT_ID: every working morning (desk calendar) from this "
        "Beijing time (HH:MM) the queue digest (as /queue) is posted once to the staff "
        "group's General topic. `off` (or empty): no digest.",
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("TAXDESK_LOG_LEVEL", "log_level")
    )

    @field_validator("staff_digest_time", mode="before")
    @classmethod
    def _digest_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @property
    def effective_database_url(self) -> str:
        """`DATABASE_URL`, or a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'taxdesk.sqlite3').resolve()}"
