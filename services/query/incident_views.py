"""Incidents: the `incidents` read model now, or, as the system knew them at a recorded time, the domain's fold
of the events `event_log` holds recorded by then (the same rule the projection applies; see `_folded`).

Incidents are listed by keyset pagination: `after` is the last incident id already served, in byte order ("C")
of the slug: the same on every server whatever its locale, and what the cursor compares.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row, tuple_row

from schemas.catalogue import parse_event
from schemas.envelope import Event
from services.common.database import DictConnection
from services.domain.incidents import LIFECYCLE_TYPES, Incident, with_lifecycle

_AFTER = sql.SQL('AND incident_id COLLATE "C" > %(after)s')
_ORDER = sql.SQL('ORDER BY incident_id COLLATE "C" LIMIT %(limit)s')


async def incidents(
    conn: DictConnection, *, after: str | None, limit: int, as_of: datetime | None = None
) -> list[Incident]:
    selected = sql.SQL("") if after is None else _AFTER
    params = {"after": after, "limit": limit, "as_of": as_of}
    if as_of is not None:
        return await _folded(conn, selected, _ORDER, params)
    query = sql.SQL("SELECT * FROM incidents WHERE TRUE {after} {order}").format(after=selected, order=_ORDER)
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def incident(conn: DictConnection, incident_id: str, as_of: datetime | None = None) -> Incident | None:
    if as_of is not None:
        found = await _folded(conn, _ONE, sql.SQL(""), {"id": incident_id, "as_of": as_of})
        return found[0] if found else None
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute("SELECT * FROM incidents WHERE incident_id = %(id)s", {"id": incident_id})
        return await cur.fetchone()


_ONE = sql.SQL("AND incident_id = %(id)s")

# What `fold` makes of every event but the lifecycle ones, per incident: the count, by type too, the span, and the
# position and recording time of the last one; {selected} and {order} choose the incidents.
_TALLY = sql.SQL("""
    WITH by_type AS (
        SELECT incident_id, type, count(*) AS n, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
               max(stream_seq) AS last_seq
        FROM event_log WHERE recorded_at <= %(as_of)s {selected}
        GROUP BY incident_id, type
    )
    SELECT incident_id, NULL AS title, NULL AS status, NULL AS description, NULL AS merged_into,
           sum(n)::int AS event_count, jsonb_object_agg(type, n) AS counts_by_type,
           min(first_at) AS first_occurred_at, max(last_at) AS last_occurred_at, max(last_seq) AS last_position,
           (SELECT recorded_at FROM event_log WHERE stream_seq = max(by_type.last_seq)) AS updated_at
    FROM by_type GROUP BY incident_id {order}
""")
_LIFECYCLE = """
    SELECT incident_id, envelope FROM event_log
    WHERE incident_id = ANY(%(ids)s) AND recorded_at <= %(as_of)s AND type = ANY(%(lifecycle)s)
    ORDER BY stream_seq
"""


async def _folded(
    conn: DictConnection, selected: sql.Composable, order: sql.Composable, params: dict[str, Any]
) -> list[Incident]:
    """The incidents `selected` and `order` choose among those with events recorded by %(as_of)s, as `fold` of
    those events makes them, in byte order of their ids: PostgreSQL tallies the events, choosing the incidents in
    the same pass, and only the few lifecycle events are read and folded here, so an incident of a million events
    costs this process no more than one of ten."""
    async with conn.cursor(row_factory=class_row(Incident)) as cur:
        await cur.execute(_TALLY.format(selected=selected, order=order), params)
        tallies = {tally.incident_id: tally for tally in await cur.fetchall()}
    lifecycle: dict[str, list[Event[Any]]] = {incident_id: [] for incident_id in tallies}
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_LIFECYCLE, {**params, "ids": list(tallies), "lifecycle": list(LIFECYCLE_TYPES)})
        for incident_id, envelope in await cur.fetchall():
            lifecycle[incident_id].append(parse_event(envelope))
    return [
        with_lifecycle(tallies[incident_id], lifecycle[incident_id])
        for incident_id in sorted(tallies, key=lambda i: i.encode())
    ]


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
