"""The read side: plain SQL over the projector's read models, returning response models.

Lists use keyset pagination: `after` is the sort key of the last row already served, and each list asks for
`limit` rows (the caller asks for one more than it serves, to know whether a next page exists). Only the
conditions in use go into a statement, so the planner walks the index straight to the cursor on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.query.models import Incident, StoredEvent, TimelineEntry

_SELECT_INCIDENTS = """
    SELECT incident_id, title, status, event_count, counts_by_type, first_occurred_at, last_occurred_at,
           last_position, updated_at
    FROM incidents
"""


_TIMELINE_ENTRY_COLUMNS = """
    stream_seq AS position, event_id, type, occurred_at, envelope ->> 'occurred_precision' AS occurred_precision,
    reported_at, recorded_at, envelope -> 'source' AS source, envelope -> 'location' AS location,
    envelope -> 'data' AS data
"""


async def position(conn: DictConnection) -> int:
    """How far the read models have got: the lowest stream sequence every projection has applied (0: none)."""
    cur = await conn.execute("SELECT COALESCE(min(last_seq), 0) AS position FROM projection_checkpoints")
    row = await cur.fetchone()
    assert row is not None and isinstance(row["position"], int)
    return row["position"]


async def incidents(conn: DictConnection, *, after: str | None, limit: int) -> list[Incident]:
    # Byte order ("C") of the slug: the same on every server whatever its locale, and what the cursor compares.
    query = sql.SQL(_SELECT_INCIDENTS + '{after} ORDER BY incident_id COLLATE "C" LIMIT %(limit)s').format(
        after=sql.SQL("") if after is None else sql.SQL('WHERE incident_id COLLATE "C" > %(after)s')
    )
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(query, {"after": after, "limit": limit})
        return await cur.fetchall()


async def incident(conn: DictConnection, incident_id: str) -> Incident | None:
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(_SELECT_INCIDENTS + " WHERE incident_id = %s", (incident_id,))
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


async def timeline(
    conn: DictConnection,
    incident_id: str,
    *,
    types: Sequence[str],
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[TimelineEntry]:
    """Events in the order they happened; events given the same moment in stream order."""
    conditions = [sql.SQL("incident_id = %(incident_id)s")]
    if types:
        conditions.append(sql.SQL("type = ANY(%(types)s)"))
    if after is not None:
        conditions.append(sql.SQL("(occurred_at, stream_seq) > (%(after_at)s, %(after_seq)s)"))
    query = sql.SQL(
        """
        SELECT {columns}
        FROM event_log
        WHERE {conditions}
        ORDER BY occurred_at, stream_seq
        LIMIT %(limit)s
        """
    ).format(columns=sql.SQL(_TIMELINE_ENTRY_COLUMNS), conditions=sql.SQL(" AND ").join(conditions))
    after_at, after_seq = after if after is not None else (None, None)
    params = {"incident_id": incident_id, "types": list(types), "after_at": after_at, "after_seq": after_seq}
    async with conn.cursor(row_factory=class_row(TimelineEntry)) as cur:
        await cur.execute(query, {**params, "limit": limit})
        return await cur.fetchall()


async def entries_after(conn: DictConnection, incident_id: str, *, after: int, limit: int) -> list[TimelineEntry]:
    """The incident's entries with a stream sequence above `after`, in stream (commit) order: the live feed."""
    query = sql.SQL(
        "SELECT {columns} FROM event_log WHERE incident_id = %s AND stream_seq > %s ORDER BY stream_seq LIMIT %s"
    ).format(columns=sql.SQL(_TIMELINE_ENTRY_COLUMNS))
    async with conn.cursor(row_factory=class_row(TimelineEntry)) as cur:
        await cur.execute(query, (incident_id, after, limit))
        return await cur.fetchall()


async def last_entry(conn: DictConnection, incident_id: str) -> int:
    """The stream sequence of the incident's latest entry; 0 when it has none."""
    cur = await conn.execute(
        "SELECT COALESCE(max(stream_seq), 0) AS seq FROM event_log WHERE incident_id = %s", (incident_id,)
    )
    row = await cur.fetchone()
    assert row is not None and isinstance(row["seq"], int)
    return row["seq"]


async def event(conn: DictConnection, event_id: UUID) -> StoredEvent | None:
    async with conn.cursor(row_factory=class_row(StoredEvent)) as cur:
        await cur.execute(
            "SELECT stream_seq AS position, subject, envelope AS event FROM event_log WHERE event_id = %s",
            (event_id,),
        )
        return await cur.fetchone()
