"""Plain SQL over the actor mentions, as recorded by `as_of`."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.domain.actors import MentionRow
from services.query.as_of import AS_OF


async def mentions(
    conn: DictConnection, as_of: datetime | None, *, actor_id: str | None = None, incident_id: str | None = None
) -> list[MentionRow]:
    """Mentions of one actor, or of the actors an incident mentions (all of their mentions), or of everyone."""
    conditions: list[sql.Composable] = [sql.SQL("recorded_at <= {}").format(sql.SQL(AS_OF))]
    if actor_id is not None:
        conditions.append(sql.SQL("actor_id = %(actor_id)s"))
    if incident_id is not None:
        conditions.append(
            sql.SQL("actor_id IN (SELECT actor_id FROM actor_mentions WHERE incident_id = %(incident_id)s)")
        )
    query = sql.SQL("SELECT * FROM actor_mentions WHERE {} ORDER BY stream_seq").format(
        sql.SQL(" AND ").join(conditions)
    )
    async with conn.cursor(row_factory=class_row(MentionRow)) as cur:
        await cur.execute(query, {"as_of": as_of, "actor_id": actor_id, "incident_id": incident_id})
        return await cur.fetchall()
