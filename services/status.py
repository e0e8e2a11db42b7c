"""`crisis status`: the stream, and for each projection its position, lag and dead letters."""

from __future__ import annotations

from dataclasses import dataclass

import nats
import psycopg

from schemas.subjects import STREAM_NAME
from services.common.eventstream import connect_options
from services.common.settings import Settings
from services.projector.dead_letters import open_counts
from services.projector.read_models import PROJECTIONS


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    lag: int
    dead_letters: int  # awaiting a decision


@dataclass(frozen=True)
class Status:
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    projections: list[ProjectionStatus]


async def collect(settings: Settings) -> Status:
    options = connect_options(settings, "crisis-status") | {"max_reconnect_attempts": 0, "allow_reconnect": False}
    nc = await nats.connect(**options)
    try:
        state = (await nc.jetstream().stream_info(STREAM_NAME)).state
    finally:
        await nc.close()
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=5) as conn:
        cur = await conn.execute("SELECT projection, last_seq FROM projection_checkpoints")
        positions: dict[str, int] = dict(await cur.fetchall())
        dead = await open_counts(conn)
    return Status(
        messages=state.messages,
        bytes=state.bytes,
        first_seq=state.first_seq,
        last_seq=state.last_seq,
        projections=[
            ProjectionStatus(
                name=name,
                position=positions.get(name, 0),
                lag=max(0, state.last_seq - positions.get(name, 0)),
                dead_letters=dead.get(name, 0),
            )
            for name in PROJECTIONS
        ],
    )


def render(status: Status) -> str:
    lines = [
        f"stream {STREAM_NAME}: {status.messages} messages, {status.bytes} bytes, "
        f"sequences {status.first_seq}..{status.last_seq}",
        "",
        f"{'projection':<16} {'position':>10} {'lag':>8} {'dead letters':>13}",
    ]
    lines += [f"{p.name:<16} {p.position:>10} {p.lag:>8} {p.dead_letters:>13}" for p in status.projections]
    return "\n".join(lines)
