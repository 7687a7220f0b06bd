"""Versioned models under `models/`: fingerprinting, training-if-changed, loading.

A model is a directory `models/<UTC time, µs>-<fingerprint[:8]>/` holding `metadata.json` (pipeline
config, data fingerprint, training date, metrics) and one sub-directory per component. The
active one is named by the `ACTIVE` file (`nlu.active`: activation and rollback from the
studio), else it is the newest one (by name); after each training the store keeps the newest
`keep_models` (config.yml, default 5) and deletes older ones, never the active model nor the
ones it may be rolled back to.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlu.config import NluConfig, load_config
from nlu.errors import ModelLoadError, ModelNotFoundError
from nlu.pipeline import Pipeline
from nlu.training_data import TrainingData, load_training_data

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
ACTIVE_FILE = "ACTIVE"  # JSON: {"version": dir name, "previous": [older actives], "by", "at"}
DEFAULT_KEEP_MODELS = 5


def fingerprint(data: TrainingData, config: NluConfig) -> str:
    """A hash of the training data content and the pipeline config (not of file layout)."""
    payload = {
        "format": FORMAT_VERSION,
        "data": data.canonical(),
        "config": config.pipeline_fingerprint_view(),
    }
    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def list_models(models_dir: Path) -> list[Path]:
    """Every complete model under `models_dir`, oldest first."""
    if not models_dir.is_dir():
        return []
    return sorted(
        p
        for p in models_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / METADATA_FILE).is_file()
    )


def latest_model(models_dir: Path) -> Path | None:
    """The newest model directory, or None."""
    models = list_models(models_dir)
    return models[-1] if models else None


def read_active(models_dir: Path) -> dict[str, Any]:
    """The `ACTIVE` pointer's content (`{}` when there is none or it is unreadable)."""
    try:
        data = json.loads((models_dir / ACTIVE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def active_model(models_dir: Path) -> Path | None:
    """The model `ACTIVE` names when it exists, else the newest one, or None."""
    name = read_active(models_dir).get("version")
    if isinstance(name, str) and name and "/" not in name and not name.startswith("."):
        chosen = models_dir / name
        if (chosen / METADATA_FILE).is_file():
            return chosen
    return latest_model(models_dir)


def prune_models(
    models_dir: Path, keep: int = DEFAULT_KEEP_MODELS, active: Path | None = None
) -> list[Path]:
    """Delete all but the newest `keep` models under `models_dir`; returns the deleted ones.

    The active model is never deleted: the newest one, and `active` when given (e.g. the model
    a running process has loaded, if it is older). `keep <= 0` keeps everything.
    """
    if keep <= 0:
        return []
    models = list_models(models_dir)
    protected = {p.resolve() for p in models[-keep:]}
    if models:
        protected.add(models[-1].resolve())
    if active is not None:
        protected.add(active.resolve())
    pointer = read_active(models_dir)
    for name in [pointer.get("version"), *pointer.get("previous", [])[-keep:]]:
        if isinstance(name, str) and name:
            protected.add((models_dir / name).resolve())
    removed = []
    for model in models:
        if model.resolve() in protected:
            continue
        # rename first, so a reader never sees a half-deleted model under a model's name
        doomed = model.with_name(f".del-{model.name}-{os.getpid()}")
        try:
            model.rename(doomed)
        except OSError:
            continue  # deleted or renamed by a concurrent prune
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(model)
    return removed


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """A model's `metadata.json`."""
    try:
        data: dict[str, Any] = json.loads((model_dir / METADATA_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(model_dir, f"metadata.json unreadable ({exc})") from exc
    if data.get("format") != FORMAT_VERSION:
        raise ModelLoadError(model_dir, f"model format {data.get('format')} != {FORMAT_VERSION}")
    return data


@dataclass
class TrainResult:
    """What `train_model` did."""

    model_dir: Path
    skipped: bool
    fingerprint: str
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


def train_pipeline(data: TrainingData, config: NluConfig) -> tuple[Pipeline, dict[str, Any]]:
    """Train a pipeline in memory; returns it with its training metrics."""
    started = time.perf_counter()
    pipeline = Pipeline.from_config(config).train(data)
    seconds = time.perf_counter() - started
    metrics = {
        "training_seconds": round(seconds, 3),
        "examples": len(data.examples),
        "intents": len(data.intents),
        "entity_types": data.entity_types,
        "training_intent_accuracy": pipeline.training_accuracy,
    }
    return pipeline, metrics


def train_model(
    data_paths: Iterable[Path],
    config_path: Path | None,
    out_dir: Path,
    force: bool = False,
    keep: int | None = None,
    active: Path | None = None,
) -> TrainResult:
    """Train and store a new model unless the newest one has the same fingerprint.

    After a new model is stored, older ones are pruned to the newest `keep` (default: the
    config's `keep_models`; 0 keeps all), never deleting `active` (see `prune_models`).
    """
    config = load_config(config_path)
    data = load_training_data(list(data_paths))
    digest = fingerprint(data, config)
    current = latest_model(out_dir)
    if current is not None and not force:
        try:
            if read_metadata(current).get("fingerprint") == digest:
                return TrainResult(current, True, digest)
        except ModelLoadError:
            pass
    pipeline, metrics = train_pipeline(data, config)
    now = datetime.now(UTC)
    name = f"{now:%Y%m%d-%H%M%S-%f}-{digest[:8]}"  # sorts by time, even within a second
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / name
    suffix = 1
    while final.exists():
        final = out_dir / f"{name}-{suffix}"
        suffix += 1
    tmp = out_dir / f".tmp-{final.name}-{os.getpid()}"
    tmp.mkdir()
    try:
        manifest = pipeline.persist(tmp)
        metadata = {
            "format": FORMAT_VERSION,
            "fingerprint": digest,
            "trained_at": now.isoformat(timespec="seconds"),
            "language": config.language,
            "pipeline": config.pipeline,
            "components": manifest,
            "data_files": [str(p) for p in data.files],
            "intents": data.intents,
            "metrics": metrics,
        }
        (tmp / METADATA_FILE).write_text(
            json.dumps(metadata, ensure_ascii=False, indent=1, default=str)
        )
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune_models(out_dir, config.keep_models if keep is None else keep, active)
    return TrainResult(final, False, digest, metrics["training_seconds"], metrics)


def load_model(model_dir: Path | None, models_dir: Path | None = None) -> tuple[Pipeline, Path]:
    """Load `model_dir`, or the active model under `models_dir` (see `active_model`).

    Like Rasa's `--model`, `model_dir` may also be a model store (the folder that
    `train --out` wrote): then its active model is loaded."""
    if model_dir is None:
        where = models_dir or Path("models")
        model_dir = active_model(where)
        if model_dir is None:
            raise ModelNotFoundError(where)
    elif not (model_dir / METADATA_FILE).is_file():
        newest = active_model(model_dir)
        if newest is None:
            raise ModelNotFoundError(model_dir)
        model_dir = newest
    read_metadata(model_dir)
    return Pipeline.load(model_dir), model_dir
