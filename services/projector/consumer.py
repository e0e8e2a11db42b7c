"""One durable JetStream pull consumer per group of read models, fetched in batches, acknowledged after COMMIT.

On a partitioned stream, per group and partition: the consumer is filtered to the partition's subjects, and a
message is held back for an earlier one only when that one is of the same partition.

Each batch is acknowledged with one message after its transaction commits (`AckPolicy.ALL`: acking the last
applied message acks every earlier one), and NAKed with a delay on any failure (never terminated, as faststream's
default acknowledgement would on an exception). The checkpoints in PostgreSQL are the truth about the group's
position: the consumer is created afresh from the lowest of them at the start of every shift and after every
reconnect to NATS. A restarted nats-server forgets the acks and deliveries that were in flight and counts them
as pending until `ack_wait` runs out (a full `max_ack_pending` of them stops delivery for that long); a consumer
recreated from the checkpoint delivers again at once.

The fetch loop is nats-py's, not faststream's `PullSub(batch=True)`: faststream 0.7.8 catches only
`nats.errors.TimeoutError` around `fetch()`, while nats-py can raise a bare `asyncio.TimeoutError` there; the
escaping exception restarts faststream's task and drops the batch it had fetched, which then sits unacknowledged
until `ack_wait` runs out — a stall of the whole projection, seen in this project's tests under load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import nats.errors
import psycopg
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from psycopg import AsyncConnection

from services.common.eventstream import DEFAULT_STREAM, EventStream
from services.common.logging import CORRELATION_HEADER
from services.common.settings import Settings
from services.projector import metrics
from services.projector.applier import BatchResult, apply_batch
from services.projector.checkpoints import lock_checkpoints, register_checkpoints, save_checkpoints
from services.projector.connection import connect_projector
from services.projector.fault_injection import maybe_crash_after_commit
from services.projector.group import ProjectionGroup
from services.projector.prefetch import Fetched, Prefetcher

log = structlog.get_logger(__name__)

ACK_WAIT_S = 60.0
DEFER_DELAY_S = 0.25  # a deferred message waits for an earlier one's redelivery, which is due soon
FETCH_WAIT_S = 1.0  # how long an idle fetch waits for a first message; also how fast a stop is noticed


class GroupWorker:
    """Feeds one group of read models: owns its database connection, applies batches, acks or NAKs them."""

    def __init__(self, group: ProjectionGroup, settings: Settings) -> None:
        self.group = group
        self.settings = settings
        self.stream = EventStream.of(settings)
        self._subjects = self.stream.partition_events(group.partition.index)
        self._conn: AsyncConnection[Any] | None = None
        self._js: JetStreamContext | None = None
        self.applying = False  # a batch is between fetch and ack: let it finish rather than cancel it

    async def reset_consumer(self, js: JetStreamContext) -> None:
        """(Re)create the durable consumer to deliver from the lowest checkpoint of the group on."""
        self._js = js
        checkpoints = await register_checkpoints(await self._connection(), self.group.names, self.group.partition)
        checkpoint = min(checkpoints.values())
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(self.stream.name, self.group.durable_name)
        await js.add_consumer(self.stream.name, consumer_config(self.group, self.settings, checkpoint))
        log.info("consumer ready", group=self.group.lease_name, from_seq=checkpoint + 1)

    async def handle(self, batch: Sequence[Fetched]) -> None:
        msgs = [msg for msg, _ in batch]
        try:
            with metrics.BATCH_SECONDS.labels(self.group.lease_name).time():
                messages = [message for _, message in batch]
                result = await apply_batch(
                    await self._connection(), self.group.members, messages, self._next, self.group.partition
                )
        except Exception as exc:  # nothing was committed: have the whole batch redelivered after a pause
            log.warning("batch failed; will retry", group=self.group.lease_name, size=len(batch), error=repr(exc))
            metrics.BATCH_FAILURES.labels(self.group.lease_name).inc()
            await self._drop_connection()
            for msg in msgs:
                await msg.nak(delay=self.settings.projector_retry_delay_s)
            return
        maybe_crash_after_commit()
        await acknowledge(msgs, result.checkpoint)  # only now, after COMMIT
        self._count(result)
        log.info(
            "batch committed",
            group=self.group.lease_name,
            applied=result.applied,
            dead_lettered=result.dead_lettered,
            checkpoint=result.checkpoint,
            correlation_ids=sorted({m.headers.get(CORRELATION_HEADER, "") for m in msgs if m.headers} - {""})[:20],
        )

    def _count(self, result: BatchResult) -> None:
        for name in self.group.names:
            metrics.EVENTS_APPLIED.labels(name).inc(result.applied)
            metrics.EVENTS_SKIPPED.labels(name).inc(result.skipped)
            metrics.DEAD_LETTERS.labels(name).inc(result.dead_letters.get(name, 0))
            metrics.CHECKPOINT.labels(name).set(result.checkpoint)

    async def run(self, nc: Client, stopping: asyncio.Event) -> None:
        """Fetch and apply batches until `stopping` is set or the client reconnects (the caller then resets the
        consumer); a fetch returns as soon as any message is there, and the next one is fetched meanwhile."""
        reconnects = nc.stats["reconnects"]
        subscription = await nc.jetstream().pull_subscribe_bind(
            durable=self.group.durable_name, stream=self.stream.name
        )
        batches = Prefetcher(
            subscription, self.settings.projector_batch_size, FETCH_WAIT_S, self.stream, self.group.work_ahead
        )
        try:
            while not stopping.is_set() and nc.stats["reconnects"] == reconnects:
                try:
                    batch = await batches.next()
                except nats.errors.Error as exc:  # e.g. while the client reconnects: wait, then fetch again
                    log.warning("fetch failed; retrying", group=self.group.lease_name, error=repr(exc))
                    await asyncio.sleep(FETCH_WAIT_S)
                    continue
                if batch:
                    self.applying = True
                    try:
                        await self.handle(batch)
                    finally:
                        self.applying = False
                if not batch or batch[-1][0].metadata.num_pending == 0:
                    await self._reach_stream_end(nc.jetstream())
        finally:
            await batches.aclose()
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def _reach_stream_end(self, js: JetStreamContext) -> None:
        """Caught up, a partition counts as at the end of the stream: readers take the lowest checkpoint of every
        partition as the read models' position, and one whose own last event is behind the others' would hold
        that back. Unpartitioned, the stream's last event is the partition's own: nothing to do."""
        if self.group.partition.count == 1:
            return
        try:
            end = (await js.stream_info(self.stream.name)).state.last_seq  # first: see below
            try:
                own = (await js.get_msg(self.stream.name, subject=self._subjects)).seq or 0
            except NotFoundError:
                own = 0
            # Every event of the partition up to `end` was stored before `own` was read, so is at or below it: a
            # read model that has applied `own` has applied all of them.
            conn = await self._connection()
            async with conn.transaction():
                checkpoints = await lock_checkpoints(conn, self.group.names, self.group.partition)
                caught_up = [name for name, checkpoint in checkpoints.items() if own <= checkpoint < end]
                await save_checkpoints(conn, caught_up, end, self.group.partition)
        except (nats.errors.Error, TimeoutError, psycopg.Error) as exc:  # the next caught-up fetch tries again
            log.info("partition not moved to the stream's end", group=self.group.lease_name, error=repr(exc))
            if isinstance(exc, psycopg.Error):
                await self._drop_connection()

    async def close(self) -> None:
        await self._drop_connection()

    async def _next(self, seq: int) -> int | None:
        assert self._js is not None, "reset_consumer() first"
        return await next_in_stream(self._js, seq, self.stream, self._subjects)

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            assert self.settings.database_url is not None
            self._conn = await connect_projector(self.settings.database_url)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception as exc:  # the connection is already broken; nothing left to release
                log.debug("closing a broken connection failed", error=repr(exc))


async def acknowledge(batch: Sequence[Msg], checkpoint: int) -> None:
    """One ack for everything at or below the checkpoint (AckPolicy.ALL); a NAK for each deferred message.

    The NAKs go first: a redelivered batch is not in stream order (a NAKed earlier event comes back after later
    ones), and once an ack has moved the consumer's delivery floor past a deferred message, the server ignores
    that message's NAK; it would then come back only after ACK_WAIT_S."""
    for msg in batch:
        if msg.metadata.sequence.stream > checkpoint:
            await msg.nak(delay=DEFER_DELAY_S)
    done = [m for m in batch if m.metadata.sequence.stream <= checkpoint]
    if done:
        await max(done, key=lambda m: m.metadata.sequence.stream).ack()


async def next_in_stream(
    js: JetStreamContext, seq: int, stream: EventStream = DEFAULT_STREAM, subjects: str | None = None
) -> int | None:
    """The first event's sequence at or after `seq` (of those stored under `subjects`, by default every event), or
    None past the end of the stream."""
    try:
        return (await js.get_msg(stream.name, seq=seq, subject=subjects or stream.all_events, next=True)).seq
    except NotFoundError:
        return None


def consumer_config(group: ProjectionGroup, settings: Settings, checkpoint: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=group.durable_name,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if checkpoint else DeliverPolicy.ALL,
        opt_start_seq=checkpoint + 1 if checkpoint else None,
        ack_policy=JsAckPolicy.ALL,
        ack_wait=ACK_WAIT_S,
        max_deliver=-1,  # retried without end: a transient failure must never skip an event
        # Two batches: the one being applied and the one fetched ahead; bounded memory however far behind.
        max_ack_pending=2 * settings.projector_batch_size,
        filter_subject=EventStream.of(settings).partition_events(group.partition.index),
    )
