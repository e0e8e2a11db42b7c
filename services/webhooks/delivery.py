"""The webhook delivery worker: queues the event_log rows each endpoint wants, posts them signed, retries failures
with exponential backoff, and gives up after a number of attempts (visible in `crisis status`).

It runs beside the projections and only reads what they committed, so a slow or failing endpoint never holds
up a projection. Deliveries are at least once; the event id (`X-Crisis-Event-Id`) lets a receiver deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import certifi
import httpx
import psycopg
import structlog
from psycopg.rows import class_row

from services.common.database import connect
from services.common.settings import Settings
from services.webhooks.signing import SIGNATURE_HEADER, signature
from services.webhooks.targets import ForbiddenTarget, pin

log = structlog.get_logger(__name__)

BATCH = 100

# Queue, for every endpoint, the rows committed since it was last queued, in one snapshot of event_log.
_QUEUE = """
WITH hooks AS (SELECT id, incident_id, event_types, queued_to FROM webhooks FOR UPDATE SKIP LOCKED),
queued AS (
    INSERT INTO webhook_deliveries (webhook_id, stream_seq)
    SELECT h.id, e.stream_seq FROM hooks h JOIN event_log e ON e.stream_seq > h.queued_to
        AND (h.incident_id IS NULL OR e.incident_id = h.incident_id)
        AND (cardinality(h.event_types) = 0 OR e.type = ANY(h.event_types))
    ON CONFLICT DO NOTHING
)
UPDATE webhooks w SET queued_to = GREATEST(w.queued_to, (SELECT COALESCE(max(stream_seq), 0) FROM event_log))
FROM hooks h WHERE w.id = h.id
"""

_DUE = """
SELECT d.webhook_id, d.stream_seq, d.attempts, w.url, w.secret, e.event_id::text AS event_id, e.envelope
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN event_log e ON e.stream_seq = d.stream_seq
WHERE d.delivered_at IS NULL AND d.next_attempt_at <= now() AND d.attempts < %s
ORDER BY d.stream_seq LIMIT %s
"""


@dataclass(frozen=True)
class Due:
    webhook_id: int
    stream_seq: int
    attempts: int
    url: str
    secret: str
    event_id: str
    envelope: dict[str, Any]


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` failed ones: doubling, capped."""
    return timedelta(seconds=min(settings.webhook_retry_base_s * 2 ** (attempts - 1), settings.webhook_retry_max_s))


class WebhookWorker:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self) -> None:
        assert self._settings.database_url is not None
        while True:
            try:  # one connection for as long as it works
                async with await connect(self._settings.database_url, autocommit=True) as conn:
                    while True:
                        await self.deliver_due(conn)
                        await asyncio.sleep(self._settings.webhook_poll_s)
            except psycopg.OperationalError as exc:
                log.warning("webhook deliveries paused: PostgreSQL unavailable", error=str(exc))
                await asyncio.sleep(self._settings.webhook_poll_s)

    async def deliver_due(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Queue new matching events, then attempt every due delivery once; returns how many were attempted."""
        await conn.execute(_QUEUE)
        async with conn.cursor(row_factory=class_row(Due)) as cur:
            await cur.execute(_DUE, (self._settings.webhook_max_attempts, BATCH))
            due = await cur.fetchall()
        if not due:
            return 0
        http = await self._client()
        outcomes = await asyncio.gather(*(self._post(http, d) for d in due))
        for delivery, error in zip(due, outcomes, strict=True):
            await self._record(conn, delivery, error)
        return len(due)

    async def _client(self) -> httpx.AsyncClient:
        """The HTTP client, made for the first delivery: loading the CA bundle and httpx's transport took tens of
        milliseconds of CPU at every projector's start, beside its first batches, for webhooks most never have."""
        if self._http is None:
            # The CA bundle off the event loop, which the projections share.
            tls = await asyncio.to_thread(ssl.create_default_context, cafile=certifi.where())
            # No proxy from the environment: a delivery connects to the address its target check resolved.
            self._http = httpx.AsyncClient(timeout=self._settings.webhook_timeout_s, verify=tls, trust_env=False)
        return self._http

    async def _post(self, http: httpx.AsyncClient, delivery: Due) -> str | None:
        """POST the event; None when the endpoint answered 2xx, else why not."""
        body = json.dumps(delivery.envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.secret, body),
            "X-Crisis-Event-Id": delivery.event_id,
            "X-Crisis-Position": str(delivery.stream_seq),
            "X-Crisis-Attempt": str(delivery.attempts + 1),
        }
        try:
            target = await pin(delivery.url, self._settings.webhook_allow_private)
            response = await http.post(
                target.url,
                content=body,
                headers={**headers, "Host": target.host_header},
                extensions={"sni_hostname": target.server_name},
            )
        except ForbiddenTarget as exc:
            return f"refused: {exc}"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if response.is_success else f"HTTP {response.status_code}"

    async def _record(self, conn: psycopg.AsyncConnection[Any], delivery: Due, error: str | None) -> None:
        key = (delivery.webhook_id, delivery.stream_seq)
        if error is None:
            await conn.execute(
                "UPDATE webhook_deliveries SET delivered_at = now(), attempts = attempts + 1, last_error = NULL"
                " WHERE webhook_id = %s AND stream_seq = %s",
                key,
            )
            return
        log.info("webhook delivery failed", webhook=delivery.webhook_id, seq=delivery.stream_seq, error=error)
        await conn.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = %s, next_attempt_at = now() + %s"
            " WHERE webhook_id = %s AND stream_seq = %s",
            (error, backoff(self._settings, delivery.attempts + 1), *key),
        )
