"""`actors`: every mention of an actor by id; the first mention registers it, `ActorRegistered` adds aliases and
dated roles. The views fold the mentions into the registry."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from schemas.envelope import Event
from schemas.events.actors import ActorRegistered
from services.domain.actor_refs import actor_refs
from services.domain.utc import offset_minutes
from services.projector.projection import Position, Projection

actors = Projection("actors", tables=("actor_mentions",))


def _mentions(event: Event[Any], pos: Position) -> list[tuple[Any, ...]]:
    registered = event.data if isinstance(event.data, ActorRegistered) else None
    return [
        (
            event.event_id,
            ref.id,
            field,
            event.incident_id,
            event.type,
            ref.name,
            ref.kind.value,
            ref.role,
            list(registered.aliases) if registered else [],
            Jsonb([role.model_dump(mode="json") for role in registered.roles] if registered else []),
            event.occurred_at,
            offset_minutes(event.occurred_at),
            event.recorded_at,
            pos.seq,
        )
        for field, ref in actor_refs(event.data)
    ]


@actors.on_every_batch
async def record_mentions(conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
    rows = [row for event, pos in events for row in _mentions(event, pos)]
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            """
            INSERT INTO actor_mentions (event_id, actor_id, field, incident_id, event_type, name, kind, role, aliases,
                                        roles, occurred_at, occurred_offset_min, recorded_at, stream_seq)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (event_id, actor_id, field) DO NOTHING
            """,
            rows,
        )
