"""The studio's tests: a small copy of the office's NLU data (fast to train), a model store
with one model trained from it, and the interpreter that follows the store's active model."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from nlu.model_store import train_model
from nlu.training_data import Example, load_training_data, training_data_to_yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.yml"


def small_data(dest: Path, per_intent: int = 12) -> Path:
    """`dest/nlu.yml`: the first `per_intent` examples of each intent of data/nlu.yml, beside
    copies of the dialogue's files (domain, rules, case types, FAQ) for the YAML pages."""
    data = load_training_data([ROOT / "data" / "nlu.yml"])
    kept: dict[str, list[Example]] = defaultdict(list)
    for ex in data.examples:
        if len(kept[ex.intent]) < per_intent:
            kept[ex.intent].append(ex)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "nlu.yml").write_text(
        training_data_to_yaml([e for group in kept.values() for e in group]), encoding="utf-8"
    )
    for name in ("domain.yml", "rules.yml", "case_types.yml", "faq.yml"):
        (dest / name).write_text((ROOT / "data" / name).read_text(encoding="utf-8"))
    return dest


def first_model(data_dir: Path, models_dir: Path) -> Path:
    """Train the store's first model from `data_dir` (blocking)."""
    return train_model([data_dir], CONFIG, models_dir).model_dir
