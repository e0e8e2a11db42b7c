"""Plain SQL over `incidents`, and over `event_log` for an incident as the system knew it at a recorded time.

Incidents are listed by keyset pagination: `after` is the last incident id already served.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.query.models import Incident

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
