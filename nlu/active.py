"""Which model of the store the running processes use: activation, rollback, the versions.

The pointer is `models/ACTIVE` (JSON: `version`, the model directory's name; `previous`, the
models active before it, oldest first; `by` and `at`, who activated it and when). It is written
atomically (a temporary file renamed over it), so a reader sees the old or the new pointer,
never half of one. Without the file the newest model is the active one (as before the studio);
training never moves the pointer: `pin` writes it first, so a trained model waits for an
admin's activation. Running processes learn of a change through `nlu.live.LiveInterpreter`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlu.errors import ModelLoadError, ModelNotFoundError
from nlu.model_store import (
    ACTIVE_FILE,
    METADATA_FILE,
    active_model,
    list_models,
    read_active,
    read_metadata,
)

EVALUATION_DIR = "evaluation"  # inside a model directory: report.json, confusion_matrix.png
HISTORY_LIMIT = 20  # previous actives remembered for rollback


@dataclass
class ModelVersion:
    """One model of the store, as the studio lists it."""

    name: str
    path: Path
    trained_at: str
    metrics: dict[str, Any]
    active: bool
    evaluation: dict[str, Any] | None = None  # `evaluation/report.json` when it was evaluated
    extra: dict[str, Any] = field(default_factory=dict)


def _write_pointer(models_dir: Path, pointer: dict[str, Any]) -> None:
    tmp = models_dir / f".{ACTIVE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(pointer, ensure_ascii=False, indent=1))
    os.replace(tmp, models_dir / ACTIVE_FILE)


def find_version(models_dir: Path, version: str) -> Path:
    """The model directory called `version` (looked up in the listing: a name from a request
    never becomes a path by itself). Raises `ModelNotFoundError`."""
    for model in list_models(models_dir):
        if model.name == version:
            return model
    raise ModelNotFoundError(models_dir / "<unknown>")


def pin(models_dir: Path) -> Path | None:
    """Write the pointer for the model active now, when there is no pointer yet (so a newer
    model trained next does not become active by being the newest)."""
    if (models_dir / ACTIVE_FILE).is_file():
        return active_model(models_dir)
    current = active_model(models_dir)
    if current is not None:
        _write_pointer(
            models_dir,
            {"version": current.name, "previous": [], "by": None, "at": _now()},
        )
    return current


def activate(models_dir: Path, version: str, *, by: str | None = None) -> Path:
    """Make `version` the active model; the one active before is remembered for `rollback`."""
    chosen = find_version(models_dir, version)
    read_metadata(chosen)  # refuse a broken model before any process tries to load it
    pointer = read_active(models_dir)
    current = active_model(models_dir)
    previous = [p for p in pointer.get("previous", []) if isinstance(p, str)]
    if current is not None and current.name != chosen.name:
        previous.append(current.name)
    _write_pointer(
        models_dir,
        {"version": chosen.name, "previous": previous[-HISTORY_LIMIT:], "by": by, "at": _now()},
    )
    return chosen


def rollback(models_dir: Path, *, by: str | None = None) -> Path:
    """Go back to the model active before the current one (the newest previous one still in
    the store). Raises `ModelLoadError` when there is none."""
    pointer = read_active(models_dir)
    previous = [p for p in pointer.get("previous", []) if isinstance(p, str)]
    current = active_model(models_dir)
    while previous:
        name = previous.pop()
        target = models_dir / name
        if (target / METADATA_FILE).is_file() and (current is None or name != current.name):
            _write_pointer(
                models_dir, {"version": name, "previous": previous, "by": by, "at": _now()}
            )
            return target
    raise ModelLoadError(models_dir, "no earlier active model to roll back to")


def versions(models_dir: Path) -> list[ModelVersion]:
    """Every model of the store, newest first, with its metrics and evaluation."""
    active = active_model(models_dir)
    out = []
    for model in reversed(list_models(models_dir)):
        try:
            meta = read_metadata(model)
        except ModelLoadError:
            continue
        report = model / EVALUATION_DIR / "report.json"
        evaluation = None
        if report.is_file():
            try:
                evaluation = json.loads(report.read_text())
            except ValueError:
                evaluation = None
        out.append(
            ModelVersion(
                name=model.name,
                path=model,
                trained_at=str(meta.get("trained_at", "")),
                metrics=dict(meta.get("metrics", {})),
                active=active is not None and model.name == active.name,
                evaluation=evaluation,
            )
        )
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
