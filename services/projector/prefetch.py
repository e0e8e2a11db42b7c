"""Fetch the next batch while the one before is applied, so that neither NATS nor PostgreSQL waits for the other.

The batch fetched ahead is also decoded ahead, while the one before waits for PostgreSQL, and each message handed
to `work_ahead`: what the read models can work out from a message alone (`Projection.of_each_event`) is done then too.
It is only handed out after that one's turn is over, so batches are still applied one after the other, in stream
order; when the one before failed and was NAKed, the batch fetched ahead is what follows it, and the applier
defers it (see ordering.py) until the NAKed events are back. The consumer's `max_ack_pending` must allow two batches.

Only while the stream holds more than the batch handed out: caught up, a fetch ahead would return with the first
event to arrive while the batch before commits, alone, and every later one would wait for that one-event batch's
transaction too. Fetched after the COMMIT instead, the next batch takes every event that arrived meanwhile at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.aio.msg import Msg

from services.common.eventstream import EventStream
from services.projector.messages import StreamMessage

Fetched = tuple[Msg, StreamMessage]  # a fetched message, and the projector's view of it
# Events decoded (and worked on ahead) between two turns of the event loop (about half a millisecond of work).
DECODE_SLICE = 25


class Prefetcher:
    def __init__(
        self,
        subscription: Any,
        batch_size: int,
        wait_s: float,
        stream: EventStream,
        work_ahead: Callable[[StreamMessage], None] | None = None,
    ) -> None:
        self._subscription = subscription
        self._work_ahead = work_ahead
        self._stream = stream
        self._batch_size = batch_size
        self._wait_s = wait_s
        self._fetching_ahead: asyncio.Task[list[Fetched]] | None = None

    async def next(self) -> list[Fetched]:
        """The batch fetched ahead (empty when nothing came within the wait); starts fetching the one after it
        while the stream holds more. A failed fetch raises here (nats.errors.Error), and the next call fetches
        again."""
        fetching = self._fetching_ahead or asyncio.create_task(self._fetch())
        self._fetching_ahead = None
        batch = await fetching
        if batch and batch[-1][0].metadata.num_pending > 0:
            self._fetching_ahead = asyncio.create_task(self._fetch())
        return batch

    def fetch_ahead(self) -> None:
        """Start fetching (and decoding) the first batch now, before `next` asks for it."""
        self._fetching_ahead = self._fetching_ahead or asyncio.create_task(self._fetch())

    async def aclose(self) -> None:
        """Stop fetching ahead: what was fetched and not handed out is delivered again (after the consumer is
        recreated, or deleted with it)."""
        if self._fetching_ahead is not None:
            self._fetching_ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                await self._fetching_ahead
            self._fetching_ahead = None

    async def _fetch(self) -> list[Fetched]:
        try:
            msgs = await self._subscription.fetch(self._batch_size, timeout=self._wait_s)
        except TimeoutError:  # nothing new; nats-py raises its own subclass or asyncio's
            return []
        # An empty list, not a timeout, when the pull request expires first.
        batch = [(msg, StreamMessage.from_nats(msg, self._stream)) for msg in msgs]
        for done, (_, message) in enumerate(batch, 1):
            _ = message.event  # decoded now, while the batch before waits for PostgreSQL
            if self._work_ahead is not None:
                self._work_ahead(message)
            if done % DECODE_SLICE == 0:
                # The batch before sends and reads its statements on this event loop: a whole batch decoded in one
                # go (10-20 ms) held up each of its round trips, while PostgreSQL waited for the next statement.
                await asyncio.sleep(0)
        return batch
