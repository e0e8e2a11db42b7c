"""`actors`: every mention of an actor by id; the first mention registers it, `ActorRegistered` adds aliases and
dated roles. The views fold the mentions into the registry."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.actors import ActorRegistered
from services.domain.actor_refs import actor_refs
from services.domain.utc import offset_minutes
from services.projector.projection import Position, Projection, json_rows

actors = Projection("actors", tables=("actor_mentions",), write_only=("actor_mentions",))


def _mentions(event: Event[Any], pos: Position) -> list[dict[str, Any]]:
    aliases: list[str] = []  # a JSON array: see record_mentions
    roles: list[dict[str, Any]] = []
    if isinstance(event.data, ActorRegistered):
        aliases = list(event.data.aliases)
        roles = [role.model_dump(mode="json") for role in event.data.roles]
    return [
        {
            "event_id": event.event_id,
            "actor_id": ref.id,
            "field": field,
            "incident_id": event.incident_id,
            "event_type": event.type,
            "name": ref.name,
            "kind": ref.kind.value,
            "role": ref.role,
            "aliases": aliases,
            "roles": roles,
            "occurred_at": event.occurred_at,
            "occurred_offset_min": offset_minutes(event.occurred_at),
            "recorded_at": event.recorded_at,
            "stream_seq": pos.seq,
        }
        for field, ref in actor_refs(event.data)
    ]


@actors.on_every_batch
async def record_mentions(conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
    rows = [row for event, pos in events for row in _mentions(event, pos)]
    if not rows:
        return
    # One statement, the rows as one JSON document. A row's aliases travel as a JSON array, made text[] here.
    await conn.execute(
        """
        INSERT INTO actor_mentions (event_id, actor_id, field, incident_id, event_type, name, kind, role, aliases,
                                    roles, occurred_at, occurred_offset_min, recorded_at, stream_seq)
        SELECT event_id, actor_id, field, incident_id, event_type, name, kind, role,
               ARRAY(SELECT jsonb_array_elements_text(aliases)), roles, occurred_at, occurred_offset_min,
               recorded_at, stream_seq
        FROM jsonb_to_recordset(%s::jsonb)
             AS m(event_id uuid, actor_id text, field text, incident_id text, event_type text, name text, kind text,
                  role text, aliases jsonb, roles jsonb, occurred_at timestamptz, occurred_offset_min int,
                  recorded_at timestamptz, stream_seq bigint)
        ON CONFLICT (event_id, actor_id, field) DO NOTHING
        """,
        (json_rows(rows),),
    )
