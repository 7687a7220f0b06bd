"""Training from the studio: one job at a time, in a separate process, with its progress in a
file any web process can read.

`TrainingJobs.start()` spawns a process running `run_training`, which

1. pins the active model (`nlu.active.pin`: the new model does not become active by being
   the newest),
2. trains on the data directory into the store (`nlu.model_store.train_model`; skipped when
   the data and the config did not change),
3. evaluates the pipeline on a held-out split (a fifth of each intent with five or more
   examples; trained on the rest): accuracy, macro-F1, per-intent F1, the confusion matrix
   (PNG) — `<model>/evaluation/`,
4. parses every example with the active model and the new one and keeps those whose top
   intent changed (`evaluation/changed.json`).

Activation is the admin's next step (`nlu.active.activate`). Progress and the result go to
`<models>/.studio-job.json`, written atomically; an exclusive lock on `<models>/.training.lock`
keeps a second training (from another process too) from starting. `TrainingJobs.cancel` stops
a job from any web process (SIGTERM to the pid in the job file while the lock is held): the
job records `cancelled`, and a model it had already stored is removed, so the store is as
before the job.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import random
import shutil
import signal
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlu.errors import NluError

JOB_FILE = ".studio-job.json"
LOCK_FILE = ".training.lock"
HELD_OUT_SHARE = 5  # one example in five, for intents with at least five examples
STALE_AFTER_S = 60.0  # a "running" job with no process holding the lock after this is dead


class TrainingCancelled(BaseException):
    """Raised in the training process by SIGTERM (the admin's cancel, or a shutdown)."""


def _cancelled(signum: int, frame: Any) -> None:
    raise TrainingCancelled()


class TrainingBusy(NluError):
    """A training is already running."""

    def __init__(self) -> None:
        super().__init__("已有一个训练任务在进行，请等它完成。")


@dataclass
class JobState:
    """What the page shows of a training job."""

    id: str
    status: str  # running | done | failed | cancelled
    stage: str
    progress: float
    started_at: str
    by: str | None = None
    finished_at: str | None = None
    model: str | None = None  # the new model's directory name
    base: str | None = None  # the model that was active when the job started
    skipped: bool = False
    error: str | None = None
    seconds: float | None = None
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _save(models_dir: Path, state: JobState) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{JOB_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(state), ensure_ascii=False))
    os.replace(tmp, models_dir / JOB_FILE)


def read_job(models_dir: Path) -> JobState | None:
    """The last job's state (None before the first)."""
    try:
        return JobState(**json.loads((models_dir / JOB_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _age_s(state: JobState) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(state.started_at)).total_seconds()
    except ValueError:
        return 0.0


def held_out_split(examples: list[Any], seed: int = 0) -> tuple[list[Any], list[Any]]:
    """Train and test examples: a fifth of each intent with five or more examples is held
    out (reproducibly); smaller intents are kept whole for training."""
    by_intent: dict[str, list[Any]] = defaultdict(list)
    for ex in examples:
        by_intent[ex.intent].append(ex)
    rng = random.Random(seed)
    train: list[Any] = []
    test: list[Any] = []
    for intent in sorted(by_intent):
        items = list(by_intent[intent])
        rng.shuffle(items)
        n = len(items) // HELD_OUT_SHARE
        test.extend(items[:n])
        train.extend(items[n:])
    return train, test


def run_training(
    data_dir: str, config_path: str, models_dir: str, job_id: str, by: str | None = None
) -> None:
    """The job (in its own process): see the module docstring."""
    from nlu.active import EVALUATION_DIR, pin
    from nlu.config import load_config
    from nlu.evaluation import score, write_reports
    from nlu.model_store import load_model, train_model
    from nlu.pipeline import Pipeline, _top_intent
    from nlu.training_data import load_training_data

    signal.signal(signal.SIGTERM, _cancelled)
    models = Path(models_dir)
    models.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stored: Path | None = None  # a model this job added to the store
    state = JobState(job_id, "running", "读取训练数据", 0.02, _now(), by=by, pid=os.getpid())
    with open(models / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            state.status, state.error = "failed", str(TrainingBusy())
            _save(models, state)
            return
        try:
            _save(models, state)
            data = load_training_data([Path(data_dir)])
            config = load_config(Path(config_path))
            base = pin(models)
            state.base = base.name if base else None
            state.stage, state.progress = "训练新模型", 0.1
            _save(models, state)
            result = train_model([Path(data_dir)], Path(config_path), models, active=base)
            state.model, state.skipped = result.model_dir.name, result.skipped
            if not result.skipped:
                stored = result.model_dir
            out = result.model_dir / EVALUATION_DIR
            if not (out / "report.json").is_file():
                state.stage, state.progress = "在留出集上评估", 0.5
                _save(models, state)
                train, test = held_out_split(data.examples)
                pipeline = Pipeline.from_config(config).train(data.subset(train))
                scored = score(test, pipeline.parse_many([ex.text for ex in test]))
                scored.extra["held_out"] = {"train": len(train), "test": len(test)}
                scored.extra["trained_at"] = _now()
                write_reports(scored, out)
                del pipeline
            state.stage, state.progress = "比较新旧模型的预测", 0.85
            _save(models, state)
            changed: list[dict[str, Any]] = []
            if base is not None and base.name != result.model_dir.name:
                texts = [ex.text for ex in data.examples]
                old = load_model(base)[0].parse_many(texts)
                new = load_model(result.model_dir)[0].parse_many(texts)
                for ex, a, b in zip(data.examples, old, new, strict=True):
                    before = _top_intent(a["intent_ranking"]) or a["intent"]["name"]
                    after = _top_intent(b["intent_ranking"]) or b["intent"]["name"]
                    if before != after or a["intent"]["name"] != b["intent"]["name"]:
                        changed.append(
                            {
                                "text": ex.text,
                                "intent": ex.intent,
                                "before": a["intent"]["name"],
                                "after": b["intent"]["name"],
                            }
                        )
            out.mkdir(parents=True, exist_ok=True)
            (out / "changed.json").write_text(
                json.dumps({"base": state.base, "changed": changed}, ensure_ascii=False, indent=1)
            )
            state.status, state.stage, state.progress = "done", "完成", 1.0
        except TrainingCancelled:
            state.status, state.stage = "cancelled", "已取消"
            if stored is not None:  # not active (pinned base): the store is as before
                shutil.rmtree(stored, ignore_errors=True)
                state.model = None
        except Exception as exc:  # shown to the admin; the traceback goes to the log
            import logging

            logging.getLogger(__name__).exception("studio training failed")
            state.status, state.error = "failed", str(exc)[:2000]
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the record below is written whole
            state.finished_at = _now()
            state.seconds = round(time.perf_counter() - started, 2)
            _save(models, state)
            fcntl.flock(lock, fcntl.LOCK_UN)


class TrainingJobs:
    """Starts training jobs for one store (one at a time) and reports on them."""

    def __init__(self, data_dir: Path, config_path: Path, models_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.config_path = Path(config_path)
        self.models_dir = Path(models_dir)
        self._process: multiprocessing.process.BaseProcess | None = None

    def running(self) -> bool:
        """True while a job of this store runs (in any process: the lock is held)."""
        if self._process is not None and self._process.is_alive():
            return True
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with open(self.models_dir / LOCK_FILE, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
        return False

    def start(self, by: str | None = None) -> JobState:
        """Start a job (blocking for the spawn: call in a thread). Raises `TrainingBusy`."""
        if self.running():
            raise TrainingBusy()
        job_id = uuid.uuid4().hex[:12]
        state = JobState(job_id, "running", "准备中", 0.0, _now(), by=by)
        _save(self.models_dir, state)
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server process
        process = ctx.Process(
            target=run_training,
            args=(str(self.data_dir), str(self.config_path), str(self.models_dir), job_id, by),
            name="taxdesk-training",
            daemon=True,
        )
        process.start()
        self._process = process
        return state

    def current(self) -> JobState | None:
        """The last job's state; a job whose process died without a word is marked failed,
        as is one still "running" long after its start with no process holding the lock (the
        server that ran it was killed)."""
        state = read_job(self.models_dir)
        if state is None or state.status != "running":
            return state
        if (
            self._process is not None
            and not self._process.is_alive()
            and self._process.exitcode not in (None, 0)
        ):
            state.status, state.error = "failed", f"训练进程异常退出（{self._process.exitcode}）"
            _save(self.models_dir, state)
        elif _age_s(state) > STALE_AFTER_S and not self.running():
            state.status = "failed"
            state.error = "训练进程已不在运行（服务曾重启？），请重新训练。"
            _save(self.models_dir, state)
        return state

    def cancel(self, wait_s: float = 10.0) -> JobState | None:
        """Stop the running job, started by this process or another one (blocking up to
        `wait_s` for it to record the end: call in a thread). Returns the job's state then,
        or None when no job was running."""
        state = read_job(self.models_dir)
        if state is None or state.status != "running" or not self.running():
            return None
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
        elif state.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGTERM)
        else:  # spawned, not yet in run_training: it will find the job already ended
            return state
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and self.running():
            time.sleep(0.1)
        after = read_job(self.models_dir)
        if after is not None and after.status == "running" and not self.running():
            # ended before it could record it (SIGTERM before its handler was installed)
            after.status, after.stage, after.finished_at = "cancelled", "已取消", _now()
            _save(self.models_dir, after)
        return after

    def close(self) -> None:
        """Stop a running job (at shutdown)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            with contextlib.suppress(Exception):
                self._process.join(5)
