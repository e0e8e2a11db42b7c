"""`crisis status`: the stream, and for each projection its position, lag, rate, state and dead letters (and,
for a partitioned stream, each partition's position, lag, state and standbys).

The same figures feed the projector's /metrics (services/projector/status_metrics.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats
import psycopg

from services.common.eventstream import EventStream, connect_options
from services.common.settings import Settings
from services.projector.status import Status, sample
from services.webhooks.status import WebhookStatus, webhook_statuses

RATE_WINDOW_S = 1.0  # `crisis status` samples the positions twice, this far apart


@dataclass(frozen=True)
class Report:
    """What `crisis status` prints: the projector's figures and the webhooks' deliveries."""

    status: Status
    webhooks: list[WebhookStatus]
    stream_name: str


async def collect(settings: Settings, rate_window_s: float = RATE_WINDOW_S) -> Report:
    options = connect_options(settings, "crisis-status") | {"max_reconnect_attempts": 0, "allow_reconnect": False}
    nc = await nats.connect(**options)
    try:
        assert settings.database_url is not None
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, connect_timeout=5, autocommit=True
        ) as conn:
            stream = EventStream.of(settings)
            first = await sample(nc.jetstream(), conn, stream=stream)
            if rate_window_s > 0:
                await asyncio.sleep(rate_window_s)  # the rate is a difference over time
                first = await sample(nc.jetstream(), conn, first, stream)
            return Report(first, await webhook_statuses(conn, settings.webhook_max_attempts), stream.name)
    finally:
        await nc.close()


def render(report: Report) -> str:
    status = report.status
    lines = [
        f"stream {report.stream_name}: {status.messages} messages, {status.bytes} bytes, "
        f"sequences {status.first_seq}..{status.last_seq}",
        "",
        f"{'projection':<16} {'position':>10} {'lag':>8} {'rate/s':>8} {'state':<10} {'standbys':>8} "
        f"{'dead letters':>13}",
    ]
    for p in status.projections:
        figures = f"{p.position:>10} {p.lag:>8} {p.rate:>8.0f} {p.state:<10} {p.standbys:>8} {p.dead_letters:>13}"
        lines.append(f"{p.name:<16} {figures}")
        if len(p.partitions) > 1:  # a partitioned stream: each partition's projector, under its read model
            lines += [
                f"{'  partition ' + str(k.index):<16} {k.position:>10} {k.lag:>8} {'':>8} {k.state:<10} {k.standbys:>8}"
                for k in p.partitions
            ]
    if report.webhooks:
        lines += ["", f"{'webhook':<8} {'delivered':>10} {'pending':>8} {'failed':>7}  url / last error"]
        lines += [
            f"{w.id:<8} {w.delivered:>10} {w.pending:>8} {w.failed:>7}  {w.url}"
            + (f"\n{'':<37}last error: {w.last_error}" if w.last_error else "")
            for w in report.webhooks
        ]
    return "\n".join(lines)
