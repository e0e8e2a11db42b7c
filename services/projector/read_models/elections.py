"""`elections`: every election event as reported; the view folds them into each election's state."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.events.elections import ElectionHeld, ResultsAnnounced, ResultsAnnulled, ResultsCertified
from services.projector.projection import Projection
from services.projector.read_models.versions import Version, Versions, insert_payload_rows

elections = Projection("elections", tables=("election_events",))
versions = Versions(elections, "election_events")


@versions.writer(ElectionHeld, ResultsAnnounced, ResultsAnnulled, ResultsCertified)
async def write_election_events(conn: AsyncConnection[Any], written: Sequence[Version]) -> None:
    await insert_payload_rows(conn, "election_events", "election_id", written, lambda v: v.election_id)
