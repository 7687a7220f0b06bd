"""Shared helpers for the NLU tests (a small fixture pipeline trained once per module)."""

from __future__ import annotations

from pathlib import Path

from nlu.config import load_config
from nlu.pipeline import Pipeline
from nlu.training_data import TrainingData, load_training_data

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "nlu"
FIXTURE_CONFIG = FIXTURES / "config.yml"


def fixture_data() -> TrainingData:
    return load_training_data([FIXTURES])


def train_fixture_pipeline() -> Pipeline:
    return Pipeline.from_config(load_config(FIXTURE_CONFIG)).train(fixture_data())
