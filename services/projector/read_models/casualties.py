"""`casualties`: every figure of every casualty report and of each correction of one, as the source gave it."""

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from schemas.envelope import Event
from schemas.events.casualties import CasualtiesReported
from schemas.events.facts import ReportCorrected
from services.domain.utc import offset_minutes
from services.projector.projection import Position, Projection
from services.projector.read_models.versions import Versions

casualties = Projection("casualties", tables=("casualty_figures",))
versions = Versions(casualties, "casualty_figures")


@versions.writer(CasualtiesReported)
async def write_figures(
    conn: AsyncConnection[Any], event: Event[Any], report: CasualtiesReported, version_of: UUID, pos: Position
) -> None:
    reason = event.data.reason if isinstance(event.data, ReportCorrected) else None
    async with conn.cursor() as cur:
        await cur.executemany(
            """
            INSERT INTO casualty_figures (event_id, figure_index, version_of, incident_id, type, category, value, min,
                                          max, text, lower_bound, upper_bound, source, reason, occurred_at,
                                          reported_at, recorded_at, stream_seq, occurred_offset_min,
                                          reported_offset_min, casualty_group)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (event_id, figure_index) DO NOTHING
            """,
            [
                (
                    event.event_id,
                    index,
                    version_of,
                    event.incident_id,
                    CasualtiesReported.event_type(),
                    figure.category.value,
                    figure.count.value,
                    figure.count.min,
                    figure.count.max,
                    figure.count.text,
                    *figure.count.bounds,
                    Jsonb(event.source.model_dump(mode="json")),
                    reason,
                    event.occurred_at,
                    event.reported_at,
                    event.recorded_at,
                    pos.seq,
                    offset_minutes(event.occurred_at),
                    offset_minutes(event.reported_at),
                    figure.group.value,
                )
                for index, figure in enumerate(report.figures)
            ],
        )
