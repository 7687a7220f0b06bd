"""Waiting on a condition instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(
    condition: Callable[[], T | Awaitable[T | None] | None],
    timeout: float = 5.0,  # noqa: ASYNC109
    *,
    interval: float = 0.02,
    message: str = "",
) -> T:
    """Poll `condition` (sync or async) until it returns something truthy; return that.

    Raises `TimeoutError` naming the condition (and `message`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            what = message or getattr(condition, "__qualname__", repr(condition))
            raise TimeoutError(f"not true within {timeout} s: {what}")
        await asyncio.sleep(interval)


async def holds(
    condition: Callable[[], object],
    during: float,
    *,
    interval: float = 0.02,
    message: str = "",
) -> None:
    """Check that `condition` stays true for `during` seconds (e.g. "no second reply comes"):
    fails as soon as it turns false. For absences only; to wait for something, use `wait_for`."""
    deadline = time.monotonic() + during
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if not result:
            what = message or getattr(condition, "__qualname__", repr(condition))
            raise AssertionError(f"stopped being true within {during} s: {what}")
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(interval)
