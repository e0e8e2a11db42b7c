"""Rate limits per token (a moving window per limit, in memory per ingest process): 429 with Retry-After.

The limits are counted per process. With `crisis ingest --workers N` each worker allows its share, the configured
rate divided by N (rounded down, at least 1): together they never allow more than the configured rate, but a client
whose requests all reach one worker (one kept-alive connection, which stays with the worker that accepted it) is
refused at its share. Behind a load balancer with N ingest replicas a token may write up to N times the configured
rate.

The rates are read in the `limits` notation (`600/minute;50/second`) and counted as its moving window does: a
request passes when fewer than the limit's amount passed in the window before it, and a refusal's Retry-After is
when the oldest of those leaves the window. The window is counted here, a queue of times per token and limit,
rather than by `limits`' in-memory storage: its expiry started a timer thread every 10 ms under load, and its hit
and the thread's start were about 8% of single-event ingest's samples. Only the event loop calls it: no lock.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable

from fastapi import HTTPException, Request
from limits import parse_many

from services.common.auth import ApiToken
from services.common.bearer import Credentials
from services.common.http import error_body
from services.ingest.auth import authorised_writer


class WriteRateLimit:
    def __init__(self, rates: str, shares: int = 1, clock: Callable[[], float] = time.time) -> None:
        """`rates` in the `limits` notation, of which this process counts one of `shares` equal shares."""
        items = parse_many(rates)  # raises ValueError on a bad setting, at start
        # (amount, window in seconds) of each limit
        self._windows = [(max(1, i.amount // shares), i.get_expiry()) for i in items]
        self._passed: defaultdict[tuple[str, int], deque[float]] = defaultdict(deque)  # times, by token and limit
        self._clock = clock

    def retry_after_s(self, token_name: str) -> int | None:
        """Counts one request; None when it is within every limit, else the seconds until it would be.

        Like `limits`, a request refused by one limit is not counted by it nor by the limits after it, but it is
        by those before it, which it passed."""
        now = self._clock()
        for index, (amount, window_s) in enumerate(self._windows):
            passed = self._passed[token_name, index]
            while passed and passed[0] < now - window_s:
                passed.popleft()  # out of the window: the queue holds at most `amount` times
            if len(passed) >= amount:
                return max(1, math.ceil(passed[0] + window_s - now))
            passed.append(now)
        return None


async def rate_limited_writer(request: Request, credentials: Credentials) -> ApiToken:
    """The writer's token (401/403 unless it may write), or 429 when it is over its rate.

    Each write route calls it first rather than declaring it a dependency, with only the bearer credentials left to
    FastAPI (which documents the scheme in OpenAPI): each level of FastAPI's dependency solving was about 5% of
    single-event ingest's CPU."""
    token = await authorised_writer(request, credentials)
    limit: WriteRateLimit = request.app.state.write_rate_limit
    retry_after = limit.retry_after_s(token.name)
    if retry_after is not None:
        raise HTTPException(
            429,
            detail=error_body(f"too many requests for the token {token.name!r}; retry in {retry_after} s"),
            headers={"Retry-After": str(retry_after)},
        )
    return token
