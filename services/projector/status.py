"""One look at the stream and every projection: position, lag, rate, state, standbys and dead letters.

`crisis status` prints it; the projector's /metrics publishes it (status_metrics.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from nats.js.client import JetStreamContext

from services.common.eventstream import DEFAULT_STREAM, EventStream
from services.projector.dead_letters import open_counts
from services.projector.lease import holders
from services.projector.read_models import PROJECTIONS
from services.projector.shadow import rebuilding


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    lag: int
    rate: float  # events per second over the last sample window
    state: str  # active (a process holds its lease), stopped (none does), rebuilding (a replay is under way)
    standbys: int  # processes waiting to take over
    dead_letters: int  # awaiting a decision


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
    state = (await js.stream_info(stream.name)).state
    cur = await conn.execute("SELECT projection, last_seq FROM projection_checkpoints")
    positions: dict[str, int] = {str(name): int(seq) for name, seq in await cur.fetchall()}
    dead = await open_counts(conn)
    leases = await holders(conn, PROJECTIONS)
    shadows = await rebuilding(conn)
    now = time.monotonic()
    before = {p.name: p.position for p in previous.projections} if previous else {}
    elapsed = now - previous.taken_at if previous else 0.0

    def status_of(name: str) -> ProjectionStatus:
        position = positions.get(name, 0)
        active, standbys = leases.get(name, (False, 0))
        return ProjectionStatus(
            name=name,
            position=position,
            lag=max(0, state.last_seq - position),
            rate=(position - before[name]) / elapsed if name in before and elapsed > 0 else 0.0,
            state="rebuilding" if name in shadows else "active" if active else "stopped",
            standbys=standbys,
            dead_letters=dead.get(name, 0),
        )

    return Status(
        messages=state.messages,
        bytes=state.bytes,
        first_seq=state.first_seq,
        last_seq=state.last_seq,
        projections=[status_of(name) for name in PROJECTIONS],
        taken_at=now,
    )
