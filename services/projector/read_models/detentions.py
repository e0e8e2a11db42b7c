"""`detentions`: people detained and released, one row per event about one person."""

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.detentions import PersonDetained, PrisonerReleased
from services.projector.projection import Position, Projection
from services.projector.read_models.versions import Versions, insert_payload_row

detentions = Projection("detentions", tables=("detention_events",))
versions = Versions(detentions, "detention_events")


@versions.writer(PersonDetained, PrisonerReleased)
async def write_detention_event(
    conn: AsyncConnection[Any],
    event: Event[Any],
    values: PersonDetained | PrisonerReleased,
    version_of: UUID,
    pos: Position,
) -> None:
    await insert_payload_row(conn, "detention_events", ("person_id", values.person.id), event, values, version_of, pos)
