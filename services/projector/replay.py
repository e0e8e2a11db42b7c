"""`crisis replay`: rebuild a projection from the stream beside its live tables, then swap them in (blue/green).

A temporary consumer feeds the shadow tables (see shadow.py) batch by batch, each batch committed with the
shadow's checkpoint, so an interrupted rebuild resumes where it stopped. Once the shadow is within one batch of
the stream's end, one transaction locks the live checkpoint (the live applier waits), applies the rest up to the
live position, and swaps the tables. The query service keeps reading the live tables until that COMMIT.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from psycopg import AsyncConnection

from services.common.eventstream import DEFAULT_STREAM, EventStream, connect_options
from services.common.settings import Settings
from services.projector.applier import apply_batch
from services.projector.connection import connect_projector
from services.projector.consumer import next_in_stream
from services.projector.messages import StreamMessage
from services.projector.operator_errors import OperatorError
from services.projector.projection import Projection
from services.projector.shadow import lock_live_checkpoint, open_shadow, shadow_tag, swap_in

FETCH_WAIT_S = 0.5
IDLE_CONSUMER_S = 60.0  # an interrupted replay's consumer disappears by itself

# Told the shadow's checkpoint and the sequence it is heading for, after every committed batch.
OnProgress = Callable[[int, int], None]


async def resolve_origin(
    js: JetStreamContext, from_seq: int | None, from_time: datetime | None, stream: EventStream = DEFAULT_STREAM
) -> int | None:
    """The first sequence to rebuild from, checked against the stream; None: resume, or start at the beginning."""
    state = (await js.stream_info(stream.name)).state
    if from_seq is not None and from_time is not None:
        raise OperatorError("give --from-seq or --from-time, not both")
    if from_seq is not None:
        if not 1 <= from_seq <= state.last_seq:
            raise OperatorError(
                f"--from-seq {from_seq} is beyond the stream (sequences {state.first_seq}..{state.last_seq})"
            )
        return from_seq
    if from_time is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=from_time)
        async with temporary_consumer(js, config, stream) as sub:
            try:
                [first] = await sub.fetch(1, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                first = None
        # A time past the last event starts the consumer at the beginning: the timestamp tells.
        if first is None or first.metadata.timestamp < from_time:
            raise OperatorError(f"--from-time {from_time.isoformat()}: no event at or after it in the stream")
        return int(first.metadata.sequence.stream)
    return None


@asynccontextmanager
async def temporary_consumer(
    js: JetStreamContext, config: ConsumerConfig, stream: EventStream = DEFAULT_STREAM
) -> AsyncIterator[Any]:
    config.name = f"replay-{uuid.uuid4().hex[:12]}"
    config.inactive_threshold = IDLE_CONSUMER_S
    config.filter_subject = config.filter_subject or stream.all_events
    await js.add_consumer(stream.name, config)
    try:
        yield await js.pull_subscribe_bind(config.name, stream=stream.name)
    finally:
        await js.delete_consumer(stream.name, config.name)


class ShadowFeed:
    """Applies stream messages to the shadow tables, in order, from its checkpoint on."""

    def __init__(
        self,
        conn: AsyncConnection[Any],
        js: JetStreamContext,
        projection: Projection,
        sub: Any,
        checkpoint: int,
        stream: EventStream = DEFAULT_STREAM,
    ) -> None:
        self.conn, self.js, self.projection, self.sub = conn, js, projection, sub
        self.checkpoint = checkpoint
        self.stream = stream

    async def until(self, target: int, on_progress: OnProgress, batch: int, unacked: list[Msg] | None = None) -> None:
        """Feed up to `target`. Messages are acked after each COMMIT, or collected in `unacked` when the caller's
        transaction holds the commit."""
        while self.checkpoint < target:
            try:
                msgs = await self.sub.fetch(batch, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            messages = [StreamMessage.from_nats(m, self.stream) for m in msgs]
            result = await apply_batch(
                self.conn, [self.projection], messages, partial(next_in_stream, self.js, stream=self.stream)
            )
            for msg in msgs:
                if msg.metadata.sequence.stream > result.checkpoint:
                    await msg.nak()
                elif unacked is None:
                    await msg.ack()
                else:
                    unacked.append(msg)
            self.checkpoint = result.checkpoint
            on_progress(self.checkpoint, target)


async def plan(settings: Settings, run: str, projections: list[Projection], origin: int | None) -> list[Projection]:
    """The projections this run rebuilds, in order. A run prepares the shadows of all of them first, tagged with
    its name, and each is dropped as it is swapped in: when a run was interrupted, the shadows tagged with its
    name left are the projections it had not swapped in yet, and the same command rebuilds only those."""
    assert settings.database_url is not None
    async with await connect_projector(settings.database_url, autocommit=True) as conn:
        left = []
        for projection in projections:
            tag = await shadow_tag(conn, projection)
            if tag is not None and tag[1] == run and origin in (None, tag[0]):
                left.append(projection)
        if left:
            return left
        for projection in projections:
            await open_shadow(conn, projection, origin, run)
    return projections


@dataclass(frozen=True)
class Rebuilt:
    origin: int  # the first sequence the fresh tables were built from
    resumed_at: int  # the shadow's checkpoint when this run started (origin - 1 unless resumed)
    live_at: int  # the checkpoint the tables went live with


async def replay(settings: Settings, projection: Projection, origin: int | None, on_progress: OnProgress) -> Rebuilt:
    """Rebuild one projection and swap it in."""
    assert settings.database_url is not None
    batch = settings.projector_batch_size
    stream = EventStream.of(settings)
    nc = await nats.connect(**connect_options(settings, f"crisis-replay-{projection.name}"))
    try:
        js = nc.jetstream()
        # The live worker's kind of connection (dict rows): handlers are written against it.
        async with await connect_projector(settings.database_url, autocommit=True) as conn:
            origin, checkpoint = await open_shadow(conn, projection, origin)
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=checkpoint + 1,
                ack_policy=AckPolicy.EXPLICIT,
                max_ack_pending=batch,
            )
            async with temporary_consumer(js, config, stream) as sub:
                feed = ShadowFeed(conn, js, projection, sub, checkpoint, stream)
                on_progress(checkpoint, (await js.stream_info(stream.name)).state.last_seq)
                while (end := (await js.stream_info(stream.name)).state.last_seq) - feed.checkpoint > batch:
                    await feed.until(end, on_progress, batch)
                unacked: list[Msg] = []
                async with conn.transaction():
                    live = await lock_live_checkpoint(conn, projection)
                    await feed.until(max(live, end), on_progress, batch, unacked)
                    await swap_in(conn, projection, feed.checkpoint)
                for msg in unacked:  # after COMMIT
                    await msg.ack()
        return Rebuilt(origin=origin, resumed_at=checkpoint, live_at=feed.checkpoint)
    finally:
        await nc.close()
