"""`actors`: every mention of an actor by id; the first mention registers it, `ActorRegistered` adds aliases and
dated roles. The views fold the mentions into the registry."""

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.actors import ActorRegistered
from services.domain.actor_refs import actor_refs
from services.domain.utc import offset_minutes
from services.projector.projection import Position, Projection, columns

actors = Projection("actors", tables=("actor_mentions",))


def _mentions(event: Event[Any], pos: Position) -> list[tuple[Any, ...]]:
    aliases, roles = "[]", "[]"  # as JSON text: see record_mentions
    if isinstance(event.data, ActorRegistered):
        aliases = orjson.dumps(list(event.data.aliases)).decode()
        roles = orjson.dumps([role.model_dump(mode="json") for role in event.data.roles]).decode()
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
            aliases,
            roles,
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
    # One statement (arrays sent binary). A row's aliases travel as a JSON array: unnest cannot carry an array
    # per row.
    await conn.execute(
        """
        INSERT INTO actor_mentions (event_id, actor_id, field, incident_id, event_type, name, kind, role, aliases,
                                    roles, occurred_at, occurred_offset_min, recorded_at, stream_seq)
        SELECT event_id, actor_id, field, incident_id, event_type, name, kind, role,
               ARRAY(SELECT jsonb_array_elements_text(aliases)), roles, occurred_at, occurred_offset_min,
               recorded_at, stream_seq
        FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
                    %b::text[]::jsonb[], %b::text[]::jsonb[], %b::timestamptz[], %b::int[], %b::timestamptz[],
                    %b::bigint[])
             AS m(event_id, actor_id, field, incident_id, event_type, name, kind, role, aliases, roles, occurred_at,
                  occurred_offset_min, recorded_at, stream_seq)
        ON CONFLICT (event_id, actor_id, field) DO NOTHING
        """,
        columns(rows),
    )
