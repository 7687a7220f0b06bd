"""The active model pointer and the live interpreter: training does not switch models, an
activation reaches a running interpreter without a restart, rollback restores the previous."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nlu.active import activate, pin, rollback, versions
from nlu.errors import ModelLoadError, ModelNotFoundError
from nlu.interpreter import Interpreter
from nlu.live import LiveInterpreter, announce
from nlu.model_store import ACTIVE_FILE, active_model, latest_model, prune_models, train_model
from testing.nlu import FIXTURE_CONFIG, FIXTURES
from testing.waits import wait_for

pytestmark = pytest.mark.slow  # trains two fixture models

PARKING = ["办事大厅有停车位吗", "停车场在哪里", "可以在门口停车吗", "停车收费吗", "车停哪里"]
TEXT = "停车场在哪里"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A store with model A (the fixture data) active and model B (plus `ask_parking`)
    trained after it without being activated."""
    root = tmp_path_factory.mktemp("active")
    data = root / "data"
    shutil.copytree(FIXTURES, data)
    models = root / "models"
    first = train_model([data], FIXTURE_CONFIG, models)
    assert pin(models) == first.model_dir
    lines = "\n".join(f"    - {t}" for t in PARKING)
    (data / "parking.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: ask_parking\n  examples: |\n{lines}\n'
    )
    second = train_model([data], FIXTURE_CONFIG, models)
    assert not second.skipped
    return models, first.model_dir.name, second.model_dir.name


def test_training_does_not_move_the_pinned_pointer(store: tuple[Path, str, str]) -> None:
    models, a, b = store
    assert latest_model(models) is not None and latest_model(models).name == b  # type: ignore[union-attr]
    assert active_model(models).name == a  # type: ignore[union-attr]
    assert Interpreter.load(models, FIXTURE_CONFIG).model_dir.name == a  # type: ignore[union-attr]
    listed = versions(models)
    assert [v.name for v in listed] == [b, a]
    assert [v.active for v in listed] == [False, True]


async def test_activate_reaches_a_running_interpreter_and_rollback_restores(
    store: tuple[Path, str, str],
) -> None:
    models, a, b = store
    live = LiveInterpreter(Interpreter.load(models, FIXTURE_CONFIG), models, interval=30)
    live.start()  # the interval is long: only `announce` can make this one reload in time
    try:
        assert (await live.aparse(TEXT))["intent"]["name"] != "ask_parking"
        activate(models, b, by="admin")
        announce(models)
        await wait_for(lambda: live.version == b, timeout=20, message="model B loaded")
        assert (await live.aparse(TEXT))["intent"]["name"] == "ask_parking"
        pointer = json.loads((models / ACTIVE_FILE).read_text())
        assert (
            pointer["version"] == b and pointer["previous"][-1] == a and pointer["by"] == "admin"
        )

        assert rollback(models, by="admin").name == a
        announce(models)
        await wait_for(lambda: live.version == a, timeout=20, message="rolled back to A")
        assert (await live.aparse(TEXT))["intent"]["name"] != "ask_parking"
        assert live.reloads == 2
    finally:
        await live.aclose()


async def test_another_process_finds_the_change_by_polling(store: tuple[Path, str, str]) -> None:
    models, a, b = store
    # no `announce` reaches it (as in another process without Redis): the pointer is read
    live = LiveInterpreter(Interpreter.load(models, FIXTURE_CONFIG), models, interval=0.1)
    live.start()
    try:
        activate(models, b)
        await wait_for(lambda: live.version == b, timeout=20, message="polled model B")
        assert live.parse(TEXT)["intent"]["name"] == "ask_parking"
    finally:
        rollback(models)
        await live.aclose()
    assert active_model(models).name == a  # type: ignore[union-attr]


def test_rollback_without_history_and_unknown_versions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        rollback(tmp_path)
    with pytest.raises(ModelNotFoundError):
        activate(tmp_path, "../etc")


def test_prune_keeps_the_active_model_and_its_previous(store: tuple[Path, str, str]) -> None:
    models, _a, b = store
    activate(models, b)
    try:
        # keep=1 keeps only the newest (B, active): A is still protected as B's previous
        assert prune_models(models, keep=1) == []
    finally:
        rollback(models)
