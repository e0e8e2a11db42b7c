"""One look at the stream and every projection: position, lag, rate, state, standbys and dead letters, and the
position, lag, state and standbys of each partition of a partitioned stream.

`crisis status` prints it; the projector's /metrics publishes it (status_metrics.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from nats.js.client import JetStreamContext

from services.common.eventstream import DEFAULT_STREAM, EventStream, stored_partitions
from services.projector.dead_letters import open_counts
from services.projector.lease import holders
from services.projector.partition import Partition
from services.projector.read_models import PROJECTIONS
from services.projector.shadow import rebuilding


@dataclass(frozen=True)
class PartitionStatus:
    index: int
    position: int
    lag: int
    state: str  # active (a process holds its lease) or stopped
    standbys: int


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int  # the lowest of its partitions'
    lag: int
    rate: float  # events per second over the last sample window
    state: str  # active (processes hold the leases of every partition), stopped, rebuilding (a replay is under way)
    standbys: int  # processes waiting to take over (in the partition that has fewest)
    dead_letters: int  # awaiting a decision
    partitions: list[PartitionStatus]  # one for an unpartitioned stream


@dataclass(frozen=True)
class Status:
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    projections: list[ProjectionStatus]
    taken_at: float  # time.monotonic()


async def sample(
    js: JetStreamContext,
    conn: psycopg.AsyncConnection[Any],
    previous: Status | None = None,
    stream: EventStream = DEFAULT_STREAM,
) -> Status:
    """One look at the stream and the database; the rate is measured against `previous`, if given."""
    info = await js.stream_info(stream.name)
    state = info.state
    partitions = [Partition(index, stored_partitions(info.config)) for index in range(stored_partitions(info.config))]
    cur = await conn.execute("SELECT projection, partition, last_seq FROM projection_checkpoints")
    positions: dict[tuple[str, int], int] = {(str(name), int(k)): int(seq) for name, k, seq in await cur.fetchall()}
    dead = await open_counts(conn)
    leases = await holders(conn, [k.name(name) for name in PROJECTIONS for k in partitions])
    shadows = await rebuilding(conn)
    now = time.monotonic()
    before = {p.name: p.position for p in previous.projections} if previous else {}
    elapsed = now - previous.taken_at if previous else 0.0

    def partition_of(name: str, partition: Partition) -> PartitionStatus:
        position = positions.get((name, partition.index), 0)
        active, standbys = leases.get(partition.name(name), (False, 0))
        lag = max(0, state.last_seq - position)
        return PartitionStatus(partition.index, position, lag, "active" if active else "stopped", standbys)

    def status_of(name: str) -> ProjectionStatus:
        parts = [partition_of(name, partition) for partition in partitions]
        position = min(p.position for p in parts)
        return ProjectionStatus(
            name=name,
            position=position,
            lag=max(p.lag for p in parts),
            rate=(position - before[name]) / elapsed if name in before and elapsed > 0 else 0.0,
            state="rebuilding"
            if name in shadows
            else "active"
            if all(p.state == "active" for p in parts)
            else "stopped",
            standbys=min(p.standbys for p in parts),
            dead_letters=dead.get(name, 0),
            partitions=parts,
        )

    return Status(
        messages=state.messages,
        bytes=state.bytes,
        first_seq=state.first_seq,
        last_seq=state.last_seq,
        projections=[status_of(name) for name in PROJECTIONS],
        taken_at=now,
    )
