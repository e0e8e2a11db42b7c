"""Where the event stream ends: the query service's one read of NATS, to refuse a `min_position` never written.

The query service otherwise reads PostgreSQL only. It connects to NATS in the background (it must start, and
serve reads, while NATS is down) and only ever asks for the stream's info. When NATS is not configured or does
not answer, the end is unknown and a reader's `min_position` is waited for up to the bound like any other.

The highest last sequence seen is kept: a stream's last sequence never goes down (a purge keeps it), so a position
at or below it is never beyond the end, and only a higher one costs a round trip to NATS. (A stream deleted and
made again starts over; a position it has not reached yet is then waited for up to the bound, as while NATS is
down.)
"""

from __future__ import annotations

import asyncio
import contextlib

import nats
import nats.errors
import structlog
from nats.aio.client import Client

from services.common.eventstream import connect_options
from services.common.settings import Settings

log = structlog.get_logger(__name__)

STREAM_INFO_TIMEOUT_S = 1.0
CONNECT_GRACE_S = 2.0


class StreamEnd:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connecting: asyncio.Task[Client] | None = None
        self._highest_seen = 0  # the highest last sequence NATS has answered

    def start(self) -> None:
        if self._settings.nats_url is not None:
            options = connect_options(self._settings, "crisis-query")
            self._connecting = asyncio.create_task(nats.connect(**options), name="query-nats-connect")

    async def stop(self) -> None:
        task, self._connecting = self._connecting, None
        if task is None:
            return
        # A connect cancelled half-way can leave its socket open: let an attempt in progress finish first.
        await asyncio.wait({task}, timeout=CONNECT_GRACE_S)
        if not task.done():
            task.cancel()  # NATS is unreachable: nothing is open
        with contextlib.suppress(asyncio.CancelledError, Exception):  # a failed connect has nothing to close
            await (await task).close()

    async def beyond(self, wanted: int) -> int | None:
        """The stream's last sequence when `wanted` is beyond it; None when it is not, or cannot be known now."""
        if wanted <= self._highest_seen:
            return None
        last_seq = await self._last_seq()
        if last_seq is None:
            return None
        self._highest_seen = max(self._highest_seen, last_seq)
        return last_seq if wanted > last_seq else None

    async def _last_seq(self) -> int | None:
        """The stream's last sequence, or None when it cannot be known now."""
        task = self._connecting
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        client = task.result()
        try:
            info = await client.jetstream(timeout=STREAM_INFO_TIMEOUT_S).stream_info(self._settings.stream_name)
        except (nats.errors.Error, OSError) as exc:
            log.info("stream end unknown", error=f"{type(exc).__name__}: {exc}")
            return None
        return info.state.last_seq
