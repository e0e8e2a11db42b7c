"""Bounded waits for conditions: never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 15.0, what: str = "condition"
) -> T:
    """Poll `probe` until `done(result)`; fail with the last result seen once `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {result!r}")
        await asyncio.sleep(0.05)
