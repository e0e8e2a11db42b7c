"""Rate limits per token (the `limits` library, moving window, in memory per ingest process): 429 with Retry-After.

The limits are counted per process. With `crisis ingest --workers N` each worker allows its share, the configured
rate divided by N (rounded down, at least 1): together they never allow more than the configured rate, but a client
whose requests all reach one worker (one kept-alive connection, which stays with the worker that accepted it) is
refused at its share. Behind a load balancer with N ingest replicas a token may write up to N times the configured
rate.

The synchronous in-memory storage, called from the event loop: its calls touch only memory, and it expires old
entries on a timer thread at most every 10 ms. The asynchronous one hopped to a worker thread (asyncio.to_thread)
to expire them after nearly every request: a tenth of single-event ingest's samples.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from services.common.auth import ApiToken
from services.common.bearer import Credentials
from services.common.http import error_body
from services.ingest.auth import authorised_writer


class WriteRateLimit:
    def __init__(self, rates: str, shares: int = 1) -> None:
        """`rates` in the `limits` notation, of which this process counts one of `shares` equal shares."""
        items = parse_many(rates)  # raises ValueError on a bad setting, at start
        self.items: list[RateLimitItem] = [type(i)(max(1, i.amount // shares), i.multiples) for i in items]
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after_s(self, token_name: str) -> int | None:
        """Counts one request; None when it is within every limit, else the seconds until it would be."""
        for item in self.items:
            if not self._limiter.hit(item, "write", token_name):
                stats = self._limiter.get_window_stats(item, "write", token_name)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None


async def rate_limited_writer(request: Request, credentials: Credentials) -> ApiToken:
    """The writer's token (401/403 unless it may write), or 429 when it is over its rate."""
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


RateLimitedWriter = Annotated[ApiToken, Depends(rate_limited_writer)]
