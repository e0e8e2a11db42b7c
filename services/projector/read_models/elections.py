"""`elections`: every election event as reported; the view folds them into each election's state."""

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.elections import ElectionHeld, ResultsAnnounced, ResultsAnnulled, ResultsCertified
from services.projector.projection import Position, Projection
from services.projector.read_models.versions import Versions, insert_payload_row

elections = Projection("elections", tables=("election_events",))
versions = Versions(elections, "election_events")


@versions.writer(ElectionHeld, ResultsAnnounced, ResultsAnnulled, ResultsCertified)
async def write_election_event(
    conn: AsyncConnection[Any],
    event: Event[Any],
    values: ElectionHeld | ResultsAnnounced | ResultsAnnulled | ResultsCertified,
    version_of: UUID,
    pos: Position,
) -> None:
    await insert_payload_row(
        conn, "election_events", ("election_id", values.election_id), event, values, version_of, pos
    )
