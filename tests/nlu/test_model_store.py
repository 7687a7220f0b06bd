"""Model store: versioned directories, fingerprint skip, previous models kept, reload."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from nlu import Interpreter
from nlu.config import parse_config
from nlu.errors import ConfigError, ModelLoadError, ModelNotFoundError
from nlu.model_store import latest_model, list_models, prune_models, read_metadata, train_model
from testing.nlu import FIXTURE_CONFIG, FIXTURES

pytestmark = pytest.mark.slow  # trains fixture models

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
    # short texts are parsed on the loop, long ones in a worker thread: the same answers
    from nlu.interpreter import INLINE_PARSE_CHARS

    long_text = (TEXTS[0] + "，") * (INLINE_PARSE_CHARS // len(TEXTS[0]) + 1)
    assert len(long_text) > INLINE_PARSE_CHARS >= len(TEXTS[0])
    assert await interpreter.aparse(long_text, today) == interpreter.parse(long_text, today)


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


def _fake_models(root: Path, count: int) -> list[Path]:
    models = []
    for i in range(count):
        model = root / f"2026010{i}-000000-000000-{i:08x}"
        model.mkdir(parents=True)
        (model / "metadata.json").write_text('{"format": 1}')
        models.append(model)
    return models


def test_prune_keeps_newest_and_never_the_active_model(tmp_path: Path) -> None:
    models = _fake_models(tmp_path, 8)
    unrelated = tmp_path / "notes"  # not a model (no metadata.json): never touched
    unrelated.mkdir()
    assert prune_models(tmp_path, keep=0) == []  # 0 keeps all
    removed = prune_models(tmp_path, keep=5, active=models[0])
    assert removed == models[1:3]
    assert list_models(tmp_path) == [models[0], *models[3:]]
    assert unrelated.is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".del-")]
    assert prune_models(tmp_path, keep=1) == [models[0], *models[3:7]]
    assert list_models(tmp_path) == [models[7]]  # the newest (active) model stays


def test_training_prunes_the_store(store: tuple[Path, Path], tmp_path: Path) -> None:
    data, models = store
    target = tmp_path / "models"
    shutil.copytree(models, target)
    old = _fake_models(target / "old", 3)
    for model in old:  # older than every trained model, by name
        model.rename(target / model.name)
    assert len(list_models(target)) >= 4
    extra = tmp_path / "data"
    shutil.copytree(data, extra)
    with (extra / "extra.yml").open("a", encoding="utf-8") as handle:
        handle.write("- intent: thank\n  examples: |\n    - 多谢您嘞\n")
    pinned = target / old[0].name
    result = train_model([extra], FIXTURE_CONFIG, target, keep=2, active=pinned)
    assert not result.skipped
    after = list_models(target)
    assert len(after) == 3 and after[0] == pinned and after[-1] == result.model_dir
    assert not (target / old[1].name).exists() and not (target / old[2].name).exists()


def test_keep_models_option(tmp_path: Path) -> None:
    assert parse_config({"keep_models": 3}).keep_models == 3
    assert parse_config({}).keep_models == 5
    for bad in (-1, "many", True):
        with pytest.raises(ConfigError, match="keep_models"):
            parse_config({"keep_models": bad}, tmp_path / "config.yml")
