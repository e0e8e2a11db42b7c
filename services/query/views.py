"""The read side: plain SQL over the projector's read models, returning response models.

Lists use keyset pagination: `after` is the sort key of the last row already served, and each list asks for
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
from services.query.models import Incident, StoredEvent, TimelineEntry

# The recorded time a read answers as of; NULL (no as_of) is now.
AS_OF = "COALESCE(%(as_of)s::timestamptz, 'infinity')"

_SELECT_INCIDENTS = """
    SELECT incident_id, title, status, description, merged_into, event_count, counts_by_type, first_occurred_at,
           last_occurred_at, last_position, updated_at
    FROM incidents
"""

# The same rows as the system knew them at %(as_of)s, from the event log: the latest title, status and description
# given by IncidentOpened or IncidentUpdated, the latest merge, and the counts of events recorded by then.
_INCIDENTS_AS_OF = """
    WITH known AS (SELECT * FROM event_log WHERE recorded_at <= %(as_of)s),
    latest AS (
        SELECT DISTINCT ON (incident_id, field) incident_id, field, value
        FROM known, LATERAL jsonb_each_text(envelope -> 'data') AS data(field, value)
        WHERE type IN ('IncidentOpened', 'IncidentUpdated', 'IncidentMerged') AND value IS NOT NULL
        ORDER BY incident_id, field, stream_seq DESC
    ),
    by_type AS (
        SELECT incident_id, jsonb_object_agg(type, n) AS counts_by_type
        FROM (SELECT incident_id, type, count(*) AS n FROM known GROUP BY incident_id, type) counted
        GROUP BY incident_id
    )
    SELECT * FROM (
        SELECT k.incident_id,
               (SELECT value FROM latest l WHERE l.incident_id = k.incident_id AND field = 'title') AS title,
               (SELECT value FROM latest l WHERE l.incident_id = k.incident_id AND field = 'status') AS status,
               (SELECT value FROM latest l WHERE l.incident_id = k.incident_id AND field = 'description')
                   AS description,
               (SELECT value FROM latest l WHERE l.incident_id = k.incident_id AND field = 'into') AS merged_into,
               count(*)::int AS event_count, b.counts_by_type, min(occurred_at) AS first_occurred_at,
               max(occurred_at) AS last_occurred_at, max(stream_seq) AS last_position, max(recorded_at) AS updated_at
        FROM known k JOIN by_type b USING (incident_id)
        GROUP BY k.incident_id, b.counts_by_type
    ) incidents
"""


async def position(conn: DictConnection) -> int:
    """How far the read models have got: the lowest stream sequence every projection has applied (0: none)."""
    cur = await conn.execute("SELECT COALESCE(min(last_seq), 0) AS position FROM projection_checkpoints")
    row = await cur.fetchone()
    assert row is not None and isinstance(row["position"], int)
    return row["position"]


def _incidents(as_of: datetime | None) -> str:
    return _SELECT_INCIDENTS if as_of is None else _INCIDENTS_AS_OF


async def incidents(
    conn: DictConnection, *, after: str | None, limit: int, as_of: datetime | None = None
) -> list[Incident]:
    # Byte order ("C") of the slug: the same on every server whatever its locale, and what the cursor compares.
    query = sql.SQL(_incidents(as_of) + '{after} ORDER BY incident_id COLLATE "C" LIMIT %(limit)s').format(
        after=sql.SQL("") if after is None else sql.SQL('WHERE incident_id COLLATE "C" > %(after)s')
    )
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(query, {"after": after, "limit": limit, "as_of": as_of})
        return await cur.fetchall()


async def incident(conn: DictConnection, incident_id: str, as_of: datetime | None = None) -> Incident | None:
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(_incidents(as_of) + " WHERE incident_id = %(id)s", {"id": incident_id, "as_of": as_of})
        return await cur.fetchone()


async def incident_exists(conn: DictConnection, incident_id: str) -> bool:
    """Known to either read model: the two projections apply the stream independently."""
    cur = await conn.execute(
        """
        SELECT EXISTS (SELECT 1 FROM incidents WHERE incident_id = %(id)s)
            OR EXISTS (SELECT 1 FROM event_log WHERE incident_id = %(id)s) AS known
        """,
        {"id": incident_id},
    )
    row = await cur.fetchone()
    return row is not None and row["known"] is True


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
        SELECT stream_seq AS position, event_id, type, occurred_at,
               envelope ->> 'occurred_precision' AS occurred_precision, reported_at, recorded_at,
               envelope -> 'source' AS source, envelope -> 'location' AS location, envelope -> 'data' AS data,
               verification_as_of(event_id, {as_of}) AS verification
        FROM event_log
        WHERE {conditions}
        ORDER BY occurred_at, stream_seq
        LIMIT %(limit)s
        """
    ).format(conditions=sql.SQL(" AND ").join(conditions), as_of=sql.SQL(AS_OF))
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
