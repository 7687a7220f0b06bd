"""Fixtures shared by all tests: one real NLU model per test run (shared by the xdist workers),
the local Bot API server, databases (SQLite and a fresh PostgreSQL one) and Redis.

Tests are marked by what they need, from the fixtures they use (see `pytest_collection_modify
items`): `model` (a trained NLU model), `botapi` (the local Bot API server), `postgres`,
`redis`. `make test-fast` deselects those and `slow`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.container import Container, build_container
from app.settings import Settings
from testing.app import MakeContainer
from testing.botapi_server import BotAPIServer, MakeBotAPI
from testing.dialogue import FakeInterpreter
from testing.services import (
    REDIS_URL,
    check_redis,
    create_pg_database,
    drop_pg_database,
    in_ci,
    redis_prefix,
    reset_pg_database,
)

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------- markers from fixtures

_NEEDS: dict[str, set[str]] = {
    "model": {"models_dir", "interpreter"},
    "botapi": {"make_botapi", "botapi"},
    "postgres": {"pg_database", "fresh_pg_database"},
    "redis": {"redis_url"},
    "browser": {"browser"},
}
_PG_PARAMS = {"postgres", "postgresql"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in _NEEDS.items():
            if names & fixtures:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and _PG_PARAMS & {
            v for v in callspec.params.values() if isinstance(v, str)
        }:
            item.add_marker("postgres")
    # The longest tests first (subprocesses, training, the end-to-end flows), so xdist's
    # workers start on them and the short ones fill the gaps at the end instead of one long
    # test finishing alone (a stable sort: the order within each group stays).
    items.sort(key=_weight)


def _weight(item: pytest.Item) -> int:
    if item.get_closest_marker("slow") or item.get_closest_marker("browser"):
        return 0
    if item.get_closest_marker("botapi") or item.get_closest_marker("model"):
        return 1
    return 2


# ---------------------------------------------------------------------- no silent skips in CI


def _missing_package(report: pytest.CollectReport | pytest.TestReport) -> bool:
    """A skip raised by `pytest.importorskip`: every package is pinned, so in CI it is a
    broken install, not a reason to skip."""
    if not report.skipped or not in_ci():
        return False
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return "could not import" in reason


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if _missing_package(report):
        report.outcome = "failed"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    if _missing_package(report):
        report.outcome = "failed"
    return report


# ---------------------------------------------------------------------- the NLU model


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One NLU model for the whole run, trained from data/ and config.yml.

    Under xdist every worker asks for it; the first trains it into the run's shared temp
    directory under a file lock, the others wait and find it there (`train_model` skips
    training when the newest model has the same data/config fingerprint)."""
    from nlu.model_store import train_model

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    out = base / "models"
    out.mkdir(exist_ok=True)
    with _locked(base / "models.lock"):
        result = train_model([ROOT / "data"], ROOT / "config.yml", out)
    assert result.model_dir.is_dir()
    return out


@pytest.fixture(scope="session")
def interpreter(models_dir: Path) -> Any:
    """The real interpreter over that model (shared: parsing is thread-safe)."""
    from nlu.interpreter import Interpreter

    return Interpreter.load(models_dir, ROOT / "config.yml")


# ---------------------------------------------------------------------- the local Bot API server

@pytest.fixture
async def make_botapi() -> AsyncIterator[MakeBotAPI]:
    """`await make_botapi(**options)`: a started local Bot API server, closed after the test."""
    servers: list[BotAPIServer] = []

    async def make(**options: Any) -> BotAPIServer:
        server = BotAPIServer(**options)
        await server.start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(servers):
            await server.close()


@pytest.fixture
async def botapi(make_botapi: MakeBotAPI) -> BotAPIServer:
    """A started local Bot API server with the default options."""
    return await make_botapi()


# ------------------------------------------------------------ the application's container


@pytest.fixture
async def make_container() -> AsyncIterator[MakeContainer]:
    """`await make_container(settings, interpreter=...)`: the application's container (the
    scripted `FakeInterpreter` unless given), closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(settings: Settings, *, interpreter: Any = None, **kw: Any) -> Container:
            interpreter = interpreter if interpreter is not None else FakeInterpreter()
            context = build_container(settings, interpreter=interpreter, **kw)
            return await stack.enter_async_context(context)

        yield make


# ---------------------------------------------------------------------- databases and Redis


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for the whole session (per xdist worker); tests make schemas."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def fresh_pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own (random name, dropped afterwards)."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per worker; `database_url` copies it."""
    from desk.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "taxdesk.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _migrated_pg() -> Iterator[str]:
    """A PostgreSQL database migrated to head once per worker; `database_url` empties it for
    each test (`reset_pg_database`)."""
    from desk.migrate import upgrade

    url = create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test: a copy of a SQLite file migrated once per
    worker, or the worker's migrated PostgreSQL database with every table emptied and no
    other session on it (the migrations themselves are tested in
    tests/desk/test_migrations.py). Narrow it with
    `@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)`."""
    if request.param == "sqlite":
        path = tmp_path / "taxdesk.sqlite3"
        shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("_migrated_pg")
    reset_pg_database(url)
    yield url


@pytest.fixture
async def redis_url() -> str:
    """The test Redis (skipped locally, failed in CI when it does not answer)."""
    await check_redis(REDIS_URL)
    return REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of this test's own."""
    return redis_prefix()
