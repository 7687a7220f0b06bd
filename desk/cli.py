"""Command line for the case backend (placeholder until the backend lands)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Register `migrate`, `cases ...` and `staff ...` on the main parser."""
