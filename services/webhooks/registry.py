"""Registering webhook endpoints: checked here (known event types, HTTPS, a public address unless the operator
allows others: see targets.py), stored in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import class_row

from schemas.catalogue import payload_class
from services.webhooks.targets import ForbiddenTarget, check_url

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class InvalidWebhook(ValueError):
    pass


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    incident_id: str | None
    event_types: list[str]


def check(url: str, event_types: list[str], allow_private: bool) -> None:
    """Refuses an unknown event type (naming the known ones), plain HTTP except to this machine, and a host that
    resolves to an address that is not public (unless `allow_private`)."""
    for name in event_types:
        try:
            payload_class(name)
        except ValueError as exc:
            raise InvalidWebhook(str(exc)) from exc
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise InvalidWebhook(f"{url!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise InvalidWebhook(f"{url!r}: webhooks must use HTTPS (plain HTTP only to this machine)")
    try:
        check_url(url, allow_private)
    except ForbiddenTarget as exc:
        raise InvalidWebhook(f"{url!r}: {exc}") from exc


def register(
    conn: psycopg.Connection[Any],
    url: str,
    secret: str,
    incident_id: str | None,
    event_types: list[str],
    *,
    allow_private: bool,
) -> Webhook:
    """Store the endpoint; it receives events committed from now on."""
    check(url, event_types, allow_private)
    with conn.cursor(row_factory=class_row(Webhook)) as cur:
        cur.execute(
            """
            INSERT INTO webhooks (url, secret, incident_id, event_types, queued_to)
            VALUES (%s, %s, %s, %s, (SELECT COALESCE(max(stream_seq), 0) FROM event_log))
            RETURNING id, url, incident_id, event_types
            """,
            (url, secret, incident_id, sorted(event_types)),
        )
        row = cur.fetchone()
    assert row is not None
    return row


def remove(conn: psycopg.Connection[Any], webhook_id: int) -> bool:
    return conn.execute("DELETE FROM webhooks WHERE id = %s", (webhook_id,)).rowcount == 1
