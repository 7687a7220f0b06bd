from pathlib import Path

import pytest

from app.settings import Settings


def test_defaults_use_sqlite_under_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TAXDESK_DATA_DIR", str(tmp_path))
    s = Settings(_env_file=None)
    assert s.data_dir == tmp_path
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/taxdesk.sqlite3"


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:secret-token")
    s = Settings(_env_file=None)
    assert s.telegram_bot_token is not None
    assert "secret-token" not in repr(s)
    assert s.telegram_bot_token.get_secret_value() == "123:secret-token"
