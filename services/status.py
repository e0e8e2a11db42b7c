"""`crisis status`: the stream, and for each projection its position, lag and dead letters."""

from __future__ import annotations

from dataclasses import dataclass

import nats
import psycopg

from schemas.subjects import STREAM_NAME
from services.common.eventstream import connect_options
from services.common.settings import Settings
from services.projector.read_models import PROJECTIONS


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    lag: int
    dead_letters: int


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
    webhooks: list[WebhookStatus]


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
        cur = await conn.execute("SELECT projection, count(*) FROM dead_letters GROUP BY projection")
        dead: dict[str, int] = dict(await cur.fetchall())
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
            {"max": settings.webhook_max_attempts},
        )
        webhooks = [WebhookStatus(*row) for row in await cur.fetchall()]
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
        webhooks=webhooks,
    )


def render(status: Status) -> str:
    lines = [
        f"stream {STREAM_NAME}: {status.messages} messages, {status.bytes} bytes, "
        f"sequences {status.first_seq}..{status.last_seq}",
        "",
        f"{'projection':<16} {'position':>10} {'lag':>8} {'dead letters':>13}",
    ]
    lines += [f"{p.name:<16} {p.position:>10} {p.lag:>8} {p.dead_letters:>13}" for p in status.projections]
    if status.webhooks:
        lines += ["", f"{'webhook':<8} {'delivered':>10} {'pending':>8} {'failed':>7}  url / last error"]
        lines += [
            f"{w.id:<8} {w.delivered:>10} {w.pending:>8} {w.failed:>7}  {w.url}"
            + (f"\n{'':<37}last error: {w.last_error}" if w.last_error else "")
            for w in status.webhooks
        ]
    return "\n".join(lines)
