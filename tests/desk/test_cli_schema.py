"""The command line on a database that is not (or not fully) migrated: a clear sentence and a
non-zero exit, never a traceback; with `--json`, the error object."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from desk.migrate import NOT_MIGRATED, OUTDATED
from testing.cli import run_main, run_subprocess

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # a `python main.py` subprocess, then the CLI in-process


def _main(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """In-process (the same commands); `test_unmigrated_database_says_to_migrate` runs its
    first command as a real subprocess, whose stderr shows what an operator would see."""
    return run_main(env, *args, ok=False)


def test_unmigrated_database_says_to_migrate(cli_env: dict[str, str]) -> None:
    env = cli_env
    for n, args in enumerate(
        (["cases", "list"], ["cases", "show", "TX-2026-000001"], ["staff", "add", "王芳"])
    ):
        proc = run_subprocess(env, *args, ok=False) if n == 0 else _main(env, *args)
        assert proc.returncode == 1, proc.stdout
        assert NOT_MIGRATED in proc.stderr
        assert "Traceback" not in proc.stderr and "alembic" not in proc.stderr
    proc = _main(env, "cases", "list", "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"]["code"] == "not_migrated"


def test_an_older_schema_says_to_migrate_then_works(cli_env: dict[str, str]) -> None:
    env = cli_env
    assert _main(env, "migrate", "--revision", "0001").returncode == 0
    proc = _main(env, "cases", "list")
    assert proc.returncode == 1 and OUTDATED in proc.stderr
    assert _main(env, "migrate").returncode == 0
    proc = _main(env, "cases", "list")
    assert proc.returncode == 0, proc.stderr
    assert "没有案件" in proc.stdout


def test_an_unreachable_database_is_said_plainly(tmp_path: Path) -> None:
    env = dict(os.environ, DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    env["TAXDESK_DATA_DIR"] = str(tmp_path)
    proc = _main(env, "cases", "list")
    assert proc.returncode == 1
    assert "无法连接数据库" in proc.stderr and "Traceback" not in proc.stderr
    assert "nobody" not in proc.stderr  # the URL (it may hold a password) is not printed
