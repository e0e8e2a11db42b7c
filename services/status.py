"""`crisis status`: the stream, and for each projection its position, lag, rate, state and dead letters.

The same figures feed the projector's /metrics (services/projector/status_metrics.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any

import nats
import psycopg
from nats.js.client import JetStreamContext

from schemas.subjects import STREAM_NAME
from services.common.eventstream import connect_options
from services.common.settings import Settings
from services.projector.dead_letters import open_counts
from services.projector.lease import holders
from services.projector.read_models import PROJECTIONS
from services.projector.shadow import rebuilding

RATE_WINDOW_S = 1.0  # `crisis status` samples the positions twice, this far apart


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
class WebhookStatus:
    id: int
    url: str
    delivered: int
    pending: int  # waiting for an attempt or a retry
    failed: int  # given up after the last attempt
    last_error: str | None


@dataclass(frozen=True)
class Status:
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    projections: list[ProjectionStatus]
    taken_at: float  # time.monotonic()
    webhooks: list[WebhookStatus] = field(default_factory=list)  # filled in by `collect`, not by the metrics


async def sample(js: JetStreamContext, conn: psycopg.AsyncConnection[Any], previous: Status | None = None) -> Status:
    """One look at the stream and the database; the rate is measured against `previous`, if given."""
    state = (await js.stream_info(STREAM_NAME)).state
    cur = await conn.execute("SELECT projection, last_seq FROM projection_checkpoints")
    positions: dict[str, int] = {str(name): int(seq) for name, seq in await cur.fetchall()}
    dead = await open_counts(conn)
    leases = await holders(conn)
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


async def webhook_statuses(conn: psycopg.AsyncConnection[Any], max_attempts: int) -> list[WebhookStatus]:
    cur = await conn.execute(
        """
        SELECT w.id, w.url,
               count(*) FILTER (WHERE d.delivered_at IS NOT NULL),
               count(*) FILTER (WHERE d.delivered_at IS NULL AND d.attempts < %(max)s),
               count(*) FILTER (WHERE d.delivered_at IS NULL AND d.attempts >= %(max)s),
               (array_agg(d.last_error ORDER BY d.stream_seq DESC) FILTER (WHERE d.last_error IS NOT NULL))[1]
        FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
        GROUP BY w.id ORDER BY w.id
        """,
        {"max": max_attempts},
    )
    return [WebhookStatus(*row) for row in await cur.fetchall()]


async def collect(settings: Settings, rate_window_s: float = RATE_WINDOW_S) -> Status:
    options = connect_options(settings, "crisis-status") | {"max_reconnect_attempts": 0, "allow_reconnect": False}
    nc = await nats.connect(**options)
    try:
        assert settings.database_url is not None
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, connect_timeout=5, autocommit=True
        ) as conn:
            first = await sample(nc.jetstream(), conn)
            if rate_window_s > 0:
                await asyncio.sleep(rate_window_s)  # the rate is a difference over time
                first = await sample(nc.jetstream(), conn, first)
            return replace(first, webhooks=await webhook_statuses(conn, settings.webhook_max_attempts))
    finally:
        await nc.close()


def render(status: Status) -> str:
    lines = [
        f"stream {STREAM_NAME}: {status.messages} messages, {status.bytes} bytes, "
        f"sequences {status.first_seq}..{status.last_seq}",
        "",
        f"{'projection':<16} {'position':>10} {'lag':>8} {'rate/s':>8} {'state':<10} {'standbys':>8} "
        f"{'dead letters':>13}",
    ]
    lines += [
        f"{p.name:<16} {p.position:>10} {p.lag:>8} {p.rate:>8.0f} {p.state:<10} {p.standbys:>8} {p.dead_letters:>13}"
        for p in status.projections
    ]
    if status.webhooks:
        lines += ["", f"{'webhook':<8} {'delivered':>10} {'pending':>8} {'failed':>7}  url / last error"]
        lines += [
            f"{w.id:<8} {w.delivered:>10} {w.pending:>8} {w.failed:>7}  {w.url}"
            + (f"\n{'':<37}last error: {w.last_error}" if w.last_error else "")
            for w in status.webhooks
        ]
    return "\n".join(lines)
