"""`crisis replay`: rebuild projections from the stream beside their live tables, then swap them in (blue/green).

One temporary consumer and one connection feed the shadow tables (see shadow.py) of every projection the run
rebuilds, batch by batch, the first fetched while the shadows are made: the stream is read, decoded and deduplicated
once, however many projections are rebuilt, and each batch is committed in one transaction for every shadow with the
run's checkpoints, so an interrupted rebuild resumes where it stopped, every shadow at the same batch. Once the
shadows are within one batch of the stream's end, the indexes a shadow was filled without are built; then each
projection in turn gets one transaction that locks its live checkpoint (the live applier waits), applies the rest up
to the live position, and swaps the tables; the others are fed on. The query service keeps reading the live tables
until that COMMIT.
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
from services.common.frozen_heap import PROJECTOR_YOUNG_THRESHOLD, frozen_heap
from services.common.settings import Settings
from services.projector.applier import apply_batch
from services.projector.connection import connect_projector
from services.projector.consumer import acknowledge, next_in_stream
from services.projector.operator_errors import OperatorError
from services.projector.prefetch import Prefetcher
from services.projector.projection import Projection
from services.projector.shadow import (
    Shadow,
    build_indexes,
    lock_live_checkpoint,
    open_shadows,
    resumable_shadows,
    swap_in,
)

FETCH_WAIT_S = 0.5
IDLE_CONSUMER_S = 60.0  # an interrupted replay's consumer disappears by itself

# Told the shadow's checkpoint and the sequence it is heading for, after every committed batch.
OnProgress = Callable[[int, int], None]
# Told each index a shadow was filled without ("table.index") as its build starts, once the feed nears the end.
OnBuild = Callable[[str], None]


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
    """Feeds the shadows of one run from ONE consumer, in order, each from its checkpoint on: every batch is
    fetched by `batches` (ahead, while the one before is applied) and decoded once, then applied to every shadow
    with the live path's set-based `apply_batch` in one transaction on one connection (`conn`, its search path set
    by `open_shadows`), with one dedupe and one checkpoint statement for all of them, as the live projector applies
    a group."""

    def __init__(self, js: JetStreamContext, batches: Prefetcher, conn: AsyncConnection[Any], shadows: list[Shadow],
                 stream: EventStream = DEFAULT_STREAM) -> None:  # fmt: skip
        self.js, self.batches, self.conn, self.shadows, self.stream = js, batches, conn, shadows, stream

    @property
    def checkpoint(self) -> int:
        """Every shadow has applied everything up to here."""
        return min(shadow.checkpoint for shadow in self.shadows)

    async def until(self, target: int, on_progress: OnProgress, held: list[Msg] | None = None) -> None:
        """Feed up to `target`. Messages are acked after each COMMIT, or collected in `held` when the caller's
        transaction holds the commit."""
        while self.checkpoint < target:
            batch = await self.batches.next()
            if not batch:
                continue
            result = await apply_batch(
                self.conn,
                [shadow.projection for shadow in self.shadows],
                [message for _, message in batch],
                partial(next_in_stream, self.js, stream=self.stream),
            )
            for shadow in self.shadows:  # one ahead of the others (resumed further) stays where it is
                shadow.checkpoint = max(shadow.checkpoint, result.checkpoint)
            msgs = [msg for msg, _ in batch]
            if held is None:
                await acknowledge(msgs, self.checkpoint)
            else:  # deferred ones come back soon; the rest are acknowledged after the caller's COMMIT
                await acknowledge([m for m in msgs if m.metadata.sequence.stream > self.checkpoint], self.checkpoint)
                held.extend(m for m in msgs if m.metadata.sequence.stream <= self.checkpoint)
            on_progress(self.checkpoint, target)


async def plan(settings: Settings, run: str, projections: list[Projection], origin: int | None) -> list[Projection]:
    """The projections this run rebuilds, in order; changes nothing. A run makes the shadows of all of them first,
    tagged with its name, and each is dropped as it is swapped in: when a run was interrupted, the shadows tagged
    with its name left are the projections it had not swapped in yet, and the same command rebuilds only those."""
    assert settings.database_url is not None
    async with await connect_projector(settings.database_url, autocommit=True) as conn:
        left = await resumable_shadows(conn, run, projections, origin)
    return [shadow.projection for shadow in left] or projections


@dataclass(frozen=True)
class Rebuilt:
    origin: int  # the first sequence the fresh tables were built from
    resumed_at: int  # the shadow's checkpoint when this run started (origin - 1 unless resumed)
    live_at: int  # the checkpoint the tables went live with


async def replay(
    settings: Settings,
    run: str,
    projections: list[Projection],
    origin: int | None,
    on_progress: OnProgress,
    on_build: OnBuild | None = None,
) -> list[Rebuilt]:
    """Rebuild these projections (the run's, see `plan`) from one reading of the stream, then swap each in, in
    this order."""
    # As in the projector: a batch waiting for its COMMIT outlives the young collections and sets off a full one
    # every batch or two, which walked every module and schema loaded (0.3-0.4 s of a 12,500-event replay); and
    # the young collections are spaced out as the projector's are.
    with frozen_heap(young_threshold=PROJECTOR_YOUNG_THRESHOLD):
        return await _replay(settings, run, projections, origin, on_progress, on_build)


async def _replay(
    settings: Settings,
    run: str,
    projections: list[Projection],
    origin: int | None,
    on_progress: OnProgress,
    on_build: OnBuild | None,
) -> list[Rebuilt]:
    assert settings.database_url is not None
    batch = settings.projector_batch_size
    stream = EventStream.of(settings)
    nc = await nats.connect(**connect_options(settings, "crisis-replay"))
    try:
        js = nc.jetstream()
        # The live worker's kind of connection (dict rows): handlers are written against it.
        async with await connect_projector(settings.database_url, autocommit=True) as conn:
            left = await resumable_shadows(conn, run, projections, origin)
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                # Where `open_shadows` has them: as they were left, or fresh from the origin on.
                opt_start_seq=min(shadow.checkpoint for shadow in left) + 1 if left else origin or 1,
                ack_policy=AckPolicy.ALL,
                max_ack_pending=2 * batch,  # the batch applied and the one fetched ahead
            )
            rebuilt = []
            async with temporary_consumer(js, config, stream) as sub:
                batches = Prefetcher(sub, batch, FETCH_WAIT_S, stream)
                try:
                    # The first batch is fetched and decoded while PostgreSQL makes the shadows: the DDL of some
                    # 30 tables, 40-90 ms here, which the feed of a small stream waited for (a tenth of 5,000).
                    batches.fetch_ahead()
                    shadows = await open_shadows(conn, run, projections, origin, left)
                    resumed = {shadow.projection.name: shadow.checkpoint for shadow in shadows}
                    feed = ShadowFeed(js, batches, conn, list(shadows), stream)
                    on_progress(feed.checkpoint, (await js.stream_info(stream.name)).state.last_seq)
                    while (end := (await js.stream_info(stream.name)).state.last_seq) - feed.checkpoint > batch:
                        await feed.until(end, on_progress)
                    async with await connect_projector(settings.database_url, autocommit=True) as builder:
                        await build_indexes([conn, builder], shadows, on_build)
                    on_progress(feed.checkpoint, end)
                    for shadow in shadows:
                        held: list[Msg] = []
                        async with conn.transaction():
                            live = await lock_live_checkpoint(conn, shadow.projection)
                            await feed.until(max(live, end), on_progress, held)
                            await swap_in(conn, run, shadow)
                        feed.shadows.remove(shadow)  # gone with its schema: the others go on
                        await acknowledge(held, shadow.checkpoint)
                        name = shadow.projection.name
                        rebuilt.append(Rebuilt(shadow.origin, resumed[name], shadow.checkpoint))
                finally:
                    await batches.aclose()
        return rebuilt
    finally:
        await nc.close()
