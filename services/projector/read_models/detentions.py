"""`detentions`: people detained and released, one row per event about one person."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.events.detentions import PersonDetained, PrisonerReleased
from services.projector.projection import Projection
from services.projector.read_models.versions import Version, Versions, insert_payload_rows

detentions = Projection("detentions", tables=("detention_events",))
versions = Versions(detentions, "detention_events")


@versions.writer(PersonDetained, PrisonerReleased)
async def write_detention_events(conn: AsyncConnection[Any], written: Sequence[Version]) -> None:
    await insert_payload_rows(conn, "detention_events", "person_id", written, lambda v: v.person.id)
