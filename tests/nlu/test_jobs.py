"""The studio's training jobs (`nlu.jobs`): a job in its own process that trains, evaluates and
compares; one at a time; cancelled from the page, leaving the store as it was; a job left
"running" by a killed server is reported as failed instead of blocking training forever."""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nlu.active import EVALUATION_DIR, versions
from nlu.jobs import JobState, TrainingBusy, TrainingJobs, _save, read_job
from testing.studio import CONFIG, first_model, small_data

ROOT = Path(__file__).resolve().parents[2]


def _wait_done(jobs: TrainingJobs, timeout: float = 120.0) -> JobState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = jobs.current()
        if state is not None and state.status != "running" and not jobs.running():
            return state
        time.sleep(0.2)
    raise AssertionError(f"the job did not end: {jobs.current()}")


def _store(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.is_dir())


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    data = small_data(tmp_path / "data")
    models = tmp_path / "models"
    first_model(data, models)
    return data, models


def test_a_job_trains_evaluates_and_compares_with_the_active_model(
    store: tuple[Path, Path],
) -> None:
    data, models = store
    with (data / "nlu.yml").open("a", encoding="utf-8") as f:
        f.write("- intent: faq_parking\n  examples: |\n    - 办事大厅能停车吗\n    - 有停车场吗\n")
    jobs = TrainingJobs(data, CONFIG, models)
    started = jobs.start(by="赵管理")
    assert started.status == "running"
    with pytest.raises(TrainingBusy):
        jobs.start()
    state = _wait_done(jobs)
    assert state.status == "done", state.error
    assert state.by == "赵管理" and state.model and state.base and state.model != state.base
    evaluation = models / state.model / EVALUATION_DIR
    assert (evaluation / "report.json").is_file()
    assert (evaluation / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert (evaluation / "changed.json").is_file()
    active = [v.name for v in versions(models) if v.active]
    assert active == [state.base]  # trained, not activated


def test_cancel_stops_the_job_and_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)  # the office's data: long enough to cancel midway
    models = tmp_path / "models"
    first_model(data, models)
    with (data / "nlu.yml").open("a", encoding="utf-8") as f:
        f.write("- intent: faq_parking\n  examples: |\n    - 办事大厅能停车吗\n")
    before = _store(models)
    jobs = TrainingJobs(data, CONFIG, models)
    jobs.start(by="赵管理")
    deadline = time.monotonic() + 60
    while (read_job(models) or started_state()).stage != "训练新模型":
        assert time.monotonic() < deadline, "the job did not reach training"
        time.sleep(0.05)
    other = TrainingJobs(data, CONFIG, models)  # another web process's view of the store
    state = other.cancel()
    assert state is not None and state.status == "cancelled" and state.stage == "已取消"
    assert not other.running() and not jobs.running()
    assert _store(models) == before  # no new model, no half-written one
    assert other.cancel() is None  # nothing left to cancel
    again = TrainingJobs(data, CONFIG, models)  # and training can start again
    again.start()
    assert _wait_done(again).status == "done"


def started_state() -> JobState:
    return JobState("x", "running", "", 0.0, datetime.now(UTC).isoformat())


def test_a_running_job_of_a_killed_server_is_reported_failed(store: tuple[Path, Path]) -> None:
    data, models = store
    jobs = TrainingJobs(data, CONFIG, models)
    fresh = started_state()
    _save(models, fresh)
    assert jobs.current().status == "running"  # type: ignore[union-attr]  # just spawned
    old = dataclasses.replace(
        fresh, started_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    )
    _save(models, old)
    state = jobs.current()
    assert state is not None and state.status == "failed" and "重新训练" in (state.error or "")
    jobs.start()  # the train button works again
    assert _wait_done(jobs).status == "done"
