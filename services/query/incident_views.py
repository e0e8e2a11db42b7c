"""Incidents: the `incidents` read model now, or, as the system knew them at a recorded time, the domain's fold
of the events `event_log` holds recorded by then (the same rule the projection applies).

Incidents are listed by keyset pagination: `after` is the last incident id already served, in byte order ("C")
of the slug: the same on every server whatever its locale, and what the cursor compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from psycopg import sql
from psycopg.rows import class_row, tuple_row

from schemas.catalogue import parse_event
from services.common.database import DictConnection
from services.domain.incidents import Incident, fold

_AFTER = sql.SQL('AND incident_id COLLATE "C" > %(after)s')
_ORDER = sql.SQL('ORDER BY incident_id COLLATE "C" LIMIT %(limit)s')


async def incidents(
    conn: DictConnection, *, after: str | None, limit: int, as_of: datetime | None = None
) -> list[Incident]:
    selected = sql.SQL("") if after is None else _AFTER
    params = {"after": after, "limit": limit, "as_of": as_of}
    if as_of is not None:
        ids = sql.SQL(
            "SELECT incident_id FROM event_log WHERE recorded_at <= %(as_of)s {after} GROUP BY incident_id {order}"
        ).format(after=selected, order=_ORDER)
        return await _folded(conn, ids, params)
    query = sql.SQL("SELECT * FROM incidents WHERE TRUE {after} {order}").format(after=selected, order=_ORDER)
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def incident(conn: DictConnection, incident_id: str, as_of: datetime | None = None) -> Incident | None:
    params = {"id": incident_id, "as_of": as_of}
    if as_of is not None:
        found = await _folded(conn, sql.SQL("SELECT %(id)s"), params)
        return found[0] if found else None
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute("SELECT * FROM incidents WHERE incident_id = %(id)s", params)
        return await cur.fetchone()


async def _folded(conn: DictConnection, ids: sql.Composable, params: Mapping[str, object]) -> list[Incident]:
    """The incidents `ids` selects, folded from their events recorded by %(as_of)s, in byte order of their ids."""
    query = sql.SQL(
        "SELECT stream_seq, envelope FROM event_log WHERE incident_id IN ({ids}) AND recorded_at <= %(as_of)s"
        " ORDER BY stream_seq"
    ).format(ids=ids)
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        states = fold((seq, parse_event(envelope)) for seq, envelope in await cur.fetchall())
    return [states[incident_id] for incident_id in sorted(states, key=lambda i: i.encode())]


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
