"""Each webhook's deliveries at a glance: delivered, pending, given up, and the last error (for `crisis status`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class WebhookStatus:
    id: int
    url: str
    delivered: int
    pending: int  # waiting for an attempt or a retry
    failed: int  # given up after the last attempt
    last_error: str | None


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
