"""The write rate limit counts a moving window per token and limit as the `limits` library's moving window does."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from services.ingest.ratelimit import WriteRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def limits_retry_after_s(limiter: MovingWindowRateLimiter, rates: str, token: str, now: float) -> int | None:
    """What ingest answered when `limits` counted: its moving window in memory."""
    for item in parse_many(rates):
        if not limiter.hit(item, "write", token):
            return max(1, math.ceil(limiter.get_window_stats(item, "write", token).reset_time - now))
    return None


@pytest.mark.parametrize("rates", ["3/second", "3/second;5/minute", "5/minute;3/second"])
def test_the_window_counts_as_the_limits_librarys_moving_window(rates: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("limits.storage.memory.time", SimpleNamespace(time=clock))
    theirs = MovingWindowRateLimiter(MemoryStorage())
    ours = WriteRateLimit(rates, clock=clock)
    steps = random.Random(11)
    answers = []
    for _ in range(400):
        clock.now += steps.choice([0.0, 0.05, 0.2, 0.3, 1.0, 7.0, 31.0])
        token = steps.choice(["editor", "app"])
        answers.append(ours.retry_after_s(token))
        assert answers[-1] == limits_retry_after_s(theirs, rates, token, clock.now)
    assert None in answers and any(a is not None for a in answers)  # both outcomes were compared


def test_a_refused_request_is_counted_by_the_limits_it_passed_only() -> None:
    clock = Clock()
    limit = WriteRateLimit("10/minute;2/second", clock=clock)
    for _ in range(3):  # 9 requests in 3 s: each third is refused by the second's limit, but the minute counts it
        assert [limit.retry_after_s("editor") for _ in range(3)] == [None, None, 1]
        clock.now += 1.5
    assert [limit.retry_after_s("editor") for _ in range(3)] == [
        None,
        56,
        56,
    ]  # the first of the minute leaves it in 55.5 s
    assert limit.retry_after_s("app") is None  # per token


def test_each_process_counts_its_share_of_the_rate() -> None:
    clock = Clock()
    limit = WriteRateLimit("10/minute", shares=3, clock=clock)
    assert [limit.retry_after_s("editor") for _ in range(4)] == [None, None, None, 60]
    assert WriteRateLimit("2/minute", shares=3, clock=clock).retry_after_s("app") is None  # at least 1
