"""Plain SQL over the actor mentions, as recorded by `as_of`.

A list of actors is paged in SQL first (`actor_page`), then only the page's actors' mentions are read and folded:
the registry of a stream of a million events costs a page what its actors' mentions are, not every mention.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql
from psycopg.rows import class_row, tuple_row

from services.common.database import DictConnection
from services.domain.actors import MentionRow
from services.query.as_of import AS_OF

_RECORDED = sql.SQL("recorded_at <= {}").format(sql.SQL(AS_OF))


async def actor_page(
    conn: DictConnection, as_of: datetime | None, *, after: str | None, limit: int, incident_id: str | None = None
) -> list[str]:
    """Up to `limit` ids of actors mentioned by `as_of` (in `incident_id`, if given), after `after`, in the byte
    order the pages' cursors compare (a Python `str` comparison of slugs)."""
    conditions: list[sql.Composable] = [_RECORDED]
    if incident_id is not None:
        conditions.append(sql.SQL("incident_id = %(incident_id)s"))
    if after is not None:
        conditions.append(sql.SQL('actor_id COLLATE "C" > %(after)s'))
    query = sql.SQL(
        'SELECT actor_id FROM actor_mentions WHERE {} GROUP BY actor_id ORDER BY actor_id COLLATE "C" LIMIT %(limit)s'
    ).format(sql.SQL(" AND ").join(conditions))
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, {"as_of": as_of, "incident_id": incident_id, "after": after, "limit": limit})
        return [actor_id for (actor_id,) in await cur.fetchall()]


async def mentions(conn: DictConnection, as_of: datetime | None, actor_ids: list[str]) -> list[MentionRow]:
    """Every mention of these actors, in any incident, in stream order."""
    query = sql.SQL("SELECT * FROM actor_mentions WHERE actor_id = ANY(%(ids)s) AND {} ORDER BY stream_seq").format(
        _RECORDED
    )
    async with conn.cursor(row_factory=class_row(MentionRow)) as cur:
        await cur.execute(query, {"as_of": as_of, "ids": actor_ids})
        return await cur.fetchall()
