"""Fixtures of the web tests: a served site over a migrated database (SQLite unless a test
asks for PostgreSQL) with the real NLU model, and a headless Chromium.

Tests that use `browser` are marked `browser` and `slow` (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from testing.app import MakeContainer, bot_settings
from testing.web import Site, chromium, serve


@pytest.fixture
def web_database(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated SQLite database (a copy of the worker's migrated template)."""
    import shutil

    path = tmp_path / "taxdesk.sqlite3"
    shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def site(
    tmp_path: Path, web_database: str, make_container: MakeContainer, interpreter: Any
) -> AsyncIterator[Site]:
    """The console and web chat served on a free port, on the real dialogue and model."""
    settings = bot_settings(
        database_url=web_database, data_dir=tmp_path / "var", models_dir=tmp_path / "models"
    )
    container = await make_container(settings, interpreter=interpreter)
    container.outbox_poll_interval = 0.05
    async with serve(container) as served:
        yield served


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium for this test."""
    async with chromium() as b:
        yield b
