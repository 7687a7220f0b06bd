"""Model store: versioned directories, fingerprint skip, previous models kept, reload."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from nlu import Interpreter
from nlu.errors import ModelLoadError, ModelNotFoundError
from nlu.model_store import latest_model, list_models, read_metadata, train_model

from .nlu_helpers import FIXTURE_CONFIG, FIXTURES

TEXTS = [
    "我要更正2019年12月的增值稅申報表",
    "統一社會信用代碼91650100MA78ABCD1B",
    "退税3000元",
    "转人工",
    "完全无关的一句话",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("store")
    data = root / "data"
    shutil.copytree(FIXTURES, data)
    models = root / "models"
    result = train_model([data], FIXTURE_CONFIG, models)
    assert not result.skipped
    return data, models


def test_model_directory_has_metadata(store: tuple[Path, Path]) -> None:
    _, models = store
    model = latest_model(models)
    assert model is not None
    meta = read_metadata(model)
    assert meta["fingerprint"] and meta["trained_at"]
    assert meta["pipeline"][0]["name"] == "OpenCCNormalizer"
    assert meta["metrics"]["examples"] > 50
    assert meta["metrics"]["training_seconds"] > 0
    assert model.name.endswith(meta["fingerprint"][:8])


def test_unchanged_data_skips_training(store: tuple[Path, Path]) -> None:
    data, models = store
    before = list_models(models)
    result = train_model([data], FIXTURE_CONFIG, models)
    assert result.skipped and result.model_dir == before[-1]
    assert list_models(models) == before


def test_changed_data_trains_new_model_and_keeps_previous(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    data, models = store
    target = tmp_path / "models"
    shutil.copytree(models, target)
    before = list_models(target)
    extra = tmp_path / "data"
    shutil.copytree(data, extra)
    with (extra / "extra.yml").open("a", encoding="utf-8") as handle:
        handle.write("- intent: thank\n  examples: |\n    - 谢谢您\n")
    result = train_model([extra], FIXTURE_CONFIG, target)
    assert not result.skipped
    after = list_models(target)
    assert after[:-1] == before and after[-1] == result.model_dir
    # comments or file order do not change the fingerprint
    with (extra / "small.yml").open("a", encoding="utf-8") as handle:
        handle.write("# a comment\n")
    assert train_model([extra], FIXTURE_CONFIG, target).skipped


def test_reload_gives_identical_parses(store: tuple[Path, Path]) -> None:
    _, models = store
    first = Interpreter.load(models, FIXTURE_CONFIG)
    second = Interpreter.load(models, FIXTURE_CONFIG)
    assert first.pipeline is not second.pipeline
    today = date(2026, 11, 27)
    for text in TEXTS:
        assert first.parse(text, today) == second.parse(text, today)
    assert json.dumps(first.parse(TEXTS[0], today), ensure_ascii=False)


async def test_aparse_matches_parse(store: tuple[Path, Path]) -> None:
    _, models = store
    interpreter = Interpreter.load(models, FIXTURE_CONFIG)
    today = date(2026, 11, 27)
    assert await interpreter.aparse(TEXTS[0], today) == interpreter.parse(TEXTS[0], today)


def test_missing_and_broken_models(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"python main\.py train"):
        Interpreter.load(tmp_path / "none", FIXTURE_CONFIG)
    broken = tmp_path / "models" / "20260101-000000-deadbeef"
    broken.mkdir(parents=True)
    (broken / "metadata.json").write_text('{"format": 1}')
    with pytest.raises(ModelLoadError):
        Interpreter.load(tmp_path / "models", FIXTURE_CONFIG)


async def test_concurrent_aparse_is_consistent(store: tuple[Path, Path]) -> None:
    import asyncio

    _, models = store
    interpreter = Interpreter.load(models, FIXTURE_CONFIG)
    today = date(2026, 11, 27)
    expected = [interpreter.parse(t, today) for t in TEXTS]
    results = await asyncio.gather(*(interpreter.aparse(t, today) for t in TEXTS * 20))
    assert results == expected * 20
