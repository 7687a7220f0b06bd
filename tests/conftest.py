"""Fixtures shared by the integration tests: one real NLU model per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One NLU model for the whole session, trained from data/ and config.yml."""
    from nlu.model_store import train_model

    out = tmp_path_factory.mktemp("models")
    result = train_model([ROOT / "data"], ROOT / "config.yml", out)
    assert result.model_dir.is_dir()
    return out


@pytest.fixture(scope="session")
def interpreter(models_dir: Path) -> Any:
    """The real interpreter over that model (shared: parsing is thread-safe)."""
    from nlu.interpreter import Interpreter

    return Interpreter.load(models_dir, ROOT / "config.yml")
