"""Closed-loop load: a fixed number of workers, each starting its next call when the last one returns.

The same loop drives the project and its raw limit, so the client's own cost is the same on both sides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.cli.bench.report import percentile


@dataclass(frozen=True)
class Load:
    calls: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)


async def closed_loop(calls: int, workers: int, call: Callable[[int], Awaitable[object]]) -> Load:
    """Make `calls` calls (call(0) .. call(calls - 1)) with `workers` in flight."""
    latencies: list[float] = []
    next_index = iter(range(calls))

    async def worker() -> None:
        for index in next_index:  # one shared iterator: each index is taken once
            sent = time.perf_counter()
            await call(index)
            latencies.append((time.perf_counter() - sent) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return Load(calls, time.perf_counter() - started, latencies)
