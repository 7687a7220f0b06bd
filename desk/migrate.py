"""Run Alembic migrations from code (`python main.py migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    """An Alembic config for `url`, independent of the current directory."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (blocking: call from sync code or a thread)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision` (e.g. "base")."""
    command.downgrade(alembic_config(url), revision)


NOT_MIGRATED = "数据库尚未初始化，请先运行 python main.py migrate"
OUTDATED = "数据库结构不是最新版本，请先运行 python main.py migrate"


def schema_problem(connection: Connection) -> tuple[str, str] | None:
    """None when the database's schema is at the newest revision; else `(code, message)`:
    `not_migrated` (no schema at all) or `outdated` (an older revision). Blocking: run it
    with `AsyncConnection.run_sync`."""
    current = set(MigrationContext.configure(connection).get_current_heads())
    if not current:
        return "not_migrated", NOT_MIGRATED
    heads = set(ScriptDirectory(str(ROOT / "migrations")).get_heads())
    if current != heads:
        return "outdated", OUTDATED
    return None
