"""Plain SQL over `event_log`: an incident's timeline (filtered, paged), its live entries, single events.

The timeline uses keyset pagination: `after` is the sort key of the last row already served, and it asks for
`limit` rows (the caller asks for one more than it serves, to know whether a next page exists). Only the
conditions in use go into a statement, so the planner walks the index straight to the cursor on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.query.as_of import AS_OF
from services.query.models import StoredEvent, TimelineEntry

# Verification as of %(as_of)s (NULL: now); the source's times as it gave them, offset included.
_TIMELINE_ENTRY_COLUMNS = f"""
    stream_seq AS position, event_id, type, envelope ->> 'occurred_at' AS occurred_at,
    envelope ->> 'occurred_precision' AS occurred_precision, envelope ->> 'reported_at' AS reported_at,
    recorded_at, envelope -> 'source' AS source, envelope -> 'location' AS location,
    envelope -> 'data' AS data, verification_as_of(event_id, {AS_OF}) AS verification
"""


@dataclass(frozen=True)
class TimelineFilter:
    """What a timeline is narrowed to; every field is optional and they combine with AND."""

    types: Sequence[str] = ()
    actor: str | None = None  # an actor id the event names
    source: str | None = None  # the source's name, exactly
    verification: Sequence[str] = ()
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    text: str | None = None  # PostgreSQL web-search syntax over every string of the event
    as_of: datetime | None = None  # recorded time


_TIMELINE_CONDITIONS: dict[str, str] = {
    "types": "type = ANY(%(types)s)",
    "actor": "EXISTS (SELECT 1 FROM actor_mentions m WHERE m.event_id = event_log.event_id AND m.actor_id = %(actor)s)",
    "source": "source_name = %(source)s",
    "verification": f"verification_as_of(event_id, {AS_OF}) = ANY(%(verification)s)",
    "occurred_from": "occurred_at >= %(occurred_from)s",
    "occurred_to": "occurred_at < %(occurred_to)s",
    "text": "jsonb_to_tsvector('simple', envelope, '[\"string\"]') @@ websearch_to_tsquery('simple', %(text)s)",
    "as_of": "recorded_at <= %(as_of)s",
}


async def timeline(
    conn: DictConnection,
    incident_id: str,
    *,
    where: TimelineFilter,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[TimelineEntry]:
    """Events in the order they happened; events given the same moment in stream order."""
    filters = {name: getattr(where, name) for name in _TIMELINE_CONDITIONS}
    conditions = [sql.SQL("incident_id = %(incident_id)s")]
    conditions += [sql.SQL(_TIMELINE_CONDITIONS[name]) for name, value in filters.items() if value]
    if after is not None:
        conditions.append(sql.SQL("(occurred_at, stream_seq) > (%(after_at)s, %(after_seq)s)"))
    query = sql.SQL(
        """
        SELECT {columns}
        FROM event_log
        WHERE {conditions}
        ORDER BY event_log.occurred_at, stream_seq  -- the instant, not the output text of the same name
        LIMIT %(limit)s
        """
    ).format(columns=sql.SQL(_TIMELINE_ENTRY_COLUMNS), conditions=sql.SQL(" AND ").join(conditions))
    after_at, after_seq = after if after is not None else (None, None)
    params = {
        **filters,
        "types": list(where.types),
        "verification": list(where.verification),
        "incident_id": incident_id,
        "after_at": after_at,
        "after_seq": after_seq,
    }
    async with conn.cursor(row_factory=class_row(TimelineEntry)) as cur:
        await cur.execute(query, {**params, "limit": limit})
        return await cur.fetchall()


async def entries_after(conn: DictConnection, incident_id: str, *, after: int, limit: int) -> list[TimelineEntry]:
    """The incident's entries with a stream sequence above `after`, in stream (commit) order: the live feed."""
    query = sql.SQL(
        "SELECT {columns} FROM event_log WHERE incident_id = %(incident_id)s AND stream_seq > %(after)s"
        " ORDER BY stream_seq LIMIT %(limit)s"
    ).format(columns=sql.SQL(_TIMELINE_ENTRY_COLUMNS))
    async with conn.cursor(row_factory=class_row(TimelineEntry)) as cur:
        await cur.execute(query, {"incident_id": incident_id, "after": after, "limit": limit, "as_of": None})
        return await cur.fetchall()


async def last_entry(conn: DictConnection, incident_id: str) -> int:
    """The stream sequence of the incident's latest entry; 0 when it has none."""
    cur = await conn.execute(
        "SELECT COALESCE(max(stream_seq), 0) AS seq FROM event_log WHERE incident_id = %s", (incident_id,)
    )
    row = await cur.fetchone()
    assert row is not None and isinstance(row["seq"], int)
    return row["seq"]


async def event(conn: DictConnection, event_id: UUID, as_of: datetime | None = None) -> StoredEvent | None:
    async with conn.cursor(row_factory=class_row(StoredEvent)) as cur:
        await cur.execute(
            sql.SQL(
                """
                SELECT stream_seq AS position, subject, envelope AS event, verification_as_of(event_id, {as_of})
                       AS verification
                FROM event_log WHERE event_id = %(id)s AND recorded_at <= {as_of}
                """
            ).format(as_of=sql.SQL(AS_OF)),
            {"id": event_id, "as_of": as_of},
        )
        return await cur.fetchone()
