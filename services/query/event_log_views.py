"""Plain SQL over `event_log`: an incident's timeline (filtered, paged), its live entries, single events.

The timeline uses keyset pagination: `after` is the sort key of the last row already served, and it asks for
`limit` rows (the caller asks for one more than it serves, to know whether a next page exists). Its filters are a
`Selection` of one incident, so the planner walks the incident's index straight to the cursor on every page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.query.as_of import AS_OF
from services.query.freshness import POSITION
from services.query.models import StoredEvent, TimelineEntry
from services.query.rows import models
from services.query.selection import Selection

# Verification as of %(as_of)s (NULL: now); the source's times as it gave them, offset included.
_TIMELINE_ENTRY_COLUMNS = f"""
    stream_seq AS position, event_id, type, envelope ->> 'occurred_at' AS occurred_at,
    envelope ->> 'occurred_precision' AS occurred_precision, envelope ->> 'reported_at' AS reported_at,
    recorded_at, envelope -> 'source' AS source, envelope -> 'location' AS location,
    envelope -> 'data' AS data, verification_as_of(event_id, {AS_OF}) AS verification
"""


# A timestamptz as pydantic writes an answer's UTC time (services/domain/utc.py): Z, microseconds only when some.
_RFC3339_UTC = """to_char({0} AT TIME ZONE 'UTC', CASE WHEN date_part('microseconds', {0})::int %% 1000000 = 0
    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""


def entry_json(verification: str, more: str = "") -> str:
    """A timeline entry as the API writes it (TimelineEntry's fields, in its order, occurred_on last), so that a
    page's JSON needs no model: the source's times as the envelope holds them (pydantic wrote them), recorded_at in
    the answers' UTC format, the source and location with every field of their models. `verification` is the row's
    status as of the query; `more` the fields of a model that extends TimelineEntry (EventHit), each followed by a
    comma, since pydantic writes the computed occurred_on after every field."""
    return f"""json_build_object(
    'position', stream_seq, 'event_id', event_id, 'type', type,
    'occurred_at', envelope -> 'occurred_at', 'occurred_precision', envelope -> 'occurred_precision',
    'reported_at', envelope -> 'reported_at', 'recorded_at', {_RFC3339_UTC.format("recorded_at")},
    'source', json_build_object('name', envelope #> '{{source,name}}', 'kind', envelope #> '{{source,kind}}',
                                'url', envelope #> '{{source,url}}', 'via', envelope #> '{{source,via}}'),
    'location', CASE WHEN jsonb_typeof(envelope -> 'location') = 'object' THEN json_build_object(
        'name', envelope #> '{{location,name}}', 'country', envelope #> '{{location,country}}',
        'admin_area', envelope #> '{{location,admin_area}}', 'lat', envelope #> '{{location,lat}}',
        'lon', envelope #> '{{location,lon}}') END,
    'data', envelope -> 'data', 'verification', {verification}, {more}
    'occurred_on', left(envelope ->> 'occurred_at', 10))"""


async def timeline(
    conn: DictConnection, where: Selection, *, after: tuple[datetime, int] | None, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The read models' position, and events in the order they happened (events given the same moment in stream
    order) as the API writes them, read in one statement: one round trip, one snapshot.

    The page comes back as one JSON array in the entries' documented shape, parsed by orjson: a model a row
    (pydantic) cost the service more than the page's SQL (docs/performance.md)."""
    conditions = [where.where()]
    if after is not None:
        conditions.append(sql.SQL("(occurred_at, stream_seq) > (%(after_at)s, %(after_seq)s)"))
    query = sql.SQL(
        """
        SELECT ({position}) AS position, (
            SELECT COALESCE(json_agg(page.entry ORDER BY page.at, page.stream_seq), '[]')::text
            FROM (
                SELECT {entry} AS entry, occurred_at AS at, stream_seq
                FROM event_log
                WHERE {conditions}
                ORDER BY occurred_at, stream_seq
                LIMIT %(limit)s
            ) page
        ) AS page
        """
    ).format(
        position=sql.SQL(POSITION),
        entry=sql.SQL(entry_json(f"verification_as_of(event_id, {AS_OF})")),
        conditions=sql.SQL(" AND ").join(conditions),
    )
    after_at, after_seq = after if after is not None else (None, None)
    params = {**where.params(), "after_at": after_at, "after_seq": after_seq, "limit": limit}
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    assert row is not None and isinstance(row["position"], int) and isinstance(row["page"], str)
    return row["position"], orjson.loads(row["page"])


async def entries_after(conn: DictConnection, incident_id: str, *, after: int, limit: int) -> list[TimelineEntry]:
    """The incident's entries with a stream sequence above `after`, in stream (commit) order: the live feed."""
    query = sql.SQL(
        "SELECT {columns} FROM event_log WHERE incident_id = %(incident_id)s AND stream_seq > %(after)s"
        " ORDER BY stream_seq LIMIT %(limit)s"
    ).format(columns=sql.SQL(_TIMELINE_ENTRY_COLUMNS))
    cur = await conn.execute(query, {"incident_id": incident_id, "after": after, "limit": limit, "as_of": None})
    return models(TimelineEntry, await cur.fetchall())


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
