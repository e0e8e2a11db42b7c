"""Plain SQL over `event_log`: an incident's timeline (filtered, paged), its live entries, single events.

The timeline uses keyset pagination: `after` is the sort key of the last row already served, and it asks for
`limit` rows (the caller asks for one more than it serves, to know whether a next page exists). Its filters are a
`Selection` of one incident, so the planner walks the incident's index straight to the cursor on every page.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.query.as_of import AS_OF
from services.query.models import StoredEvent, TimelineEntry
from services.query.rows import models, models_json
from services.query.selection import Selection

# Verification as of %(as_of)s (NULL: now); the source's times as it gave them, offset included.
_TIMELINE_ENTRY_COLUMNS = f"""
    stream_seq AS position, event_id, type, envelope ->> 'occurred_at' AS occurred_at,
    envelope ->> 'occurred_precision' AS occurred_precision, envelope ->> 'reported_at' AS reported_at,
    recorded_at, envelope -> 'source' AS source, envelope -> 'location' AS location,
    envelope -> 'data' AS data, verification_as_of(event_id, {AS_OF}) AS verification
"""


async def timeline(
    conn: DictConnection, where: Selection, *, after: tuple[datetime, int] | None, limit: int
) -> list[TimelineEntry]:
    """Events in the order they happened; events given the same moment in stream order.

    The page comes back as one JSON array, parsed and validated by pydantic in one call: row by row, psycopg's
    rows, JSON columns and dicts cost the service more than the page's SQL (docs/performance.md)."""
    conditions = [where.where()]
    if after is not None:
        conditions.append(sql.SQL("(occurred_at, stream_seq) > (%(after_at)s, %(after_seq)s)"))
    query = sql.SQL(
        """
        SELECT COALESCE(json_agg(page ORDER BY page.at, page.position), '[]')::text AS page
        FROM (
            SELECT {columns}, event_log.occurred_at AS at
            FROM event_log
            WHERE {conditions}
            ORDER BY event_log.occurred_at, stream_seq  -- the instant, not the output text of the same name
            LIMIT %(limit)s
        ) page
        """
    ).format(columns=sql.SQL(_TIMELINE_ENTRY_COLUMNS), conditions=sql.SQL(" AND ").join(conditions))
    after_at, after_seq = after if after is not None else (None, None)
    params = {**where.params(), "after_at": after_at, "after_seq": after_seq, "limit": limit}
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    assert row is not None and isinstance(row["page"], str)
    return models_json(TimelineEntry, row["page"])


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
