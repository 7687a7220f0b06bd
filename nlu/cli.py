"""Command line for the NLU engine (placeholder until the engine lands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Register `train` and `nlu ...` on the main parser."""


def shell(settings: Any, model: Any) -> int:
    raise SystemExit("the NLU engine is not built yet")


__all__ = ["argparse", "register", "shell"]
