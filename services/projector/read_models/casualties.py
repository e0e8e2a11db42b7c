"""`casualties`: every figure of every casualty report and of each correction of one, as the source gave it."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.events.casualties import CasualtiesReported
from schemas.events.facts import ReportCorrected
from services.domain.utc import offset_minutes
from services.projector.projection import Projection, columns
from services.projector.read_models.versions import Version, Versions

casualties = Projection("casualties", tables=("casualty_figures",))
versions = Versions(casualties, "casualty_figures")


def _figure_rows(version: Version) -> list[tuple[Any, ...]]:
    event, report = version.event, version.values
    reason = event.data.reason if isinstance(event.data, ReportCorrected) else None
    source = event.source.model_dump_json()
    return [
        (
            event.event_id,
            index,
            version.version_of,
            event.incident_id,
            CasualtiesReported.event_type(),
            figure.category.value,
            figure.count.value,
            figure.count.min,
            figure.count.max,
            figure.count.text,
            *figure.count.bounds,
            source,
            reason,
            event.occurred_at,
            event.reported_at,
            event.recorded_at,
            version.pos.seq,
            offset_minutes(event.occurred_at),
            offset_minutes(event.reported_at),
            figure.group.value,
        )
        for index, figure in enumerate(report.figures)
    ]


@versions.writer(CasualtiesReported)
async def write_figures(conn: AsyncConnection[Any], written: Sequence[Version]) -> None:
    """Every figure of these versions in one statement (arrays sent binary, JSON as text)."""
    rows = [row for version in written for row in _figure_rows(version)]
    await conn.execute(
        """
        INSERT INTO casualty_figures (event_id, figure_index, version_of, incident_id, type, category, value, min,
                                      max, text, lower_bound, upper_bound, source, reason, occurred_at,
                                      reported_at, recorded_at, stream_seq, occurred_offset_min,
                                      reported_offset_min, casualty_group)
        SELECT * FROM unnest(%b::uuid[], %b::int[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::int[],
                             %b::int[], %b::int[], %b::text[], %b::int[], %b::int[], %b::text[]::jsonb[],
                             %b::text[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::bigint[],
                             %b::int[], %b::int[], %b::text[])
        ON CONFLICT (event_id, figure_index) DO NOTHING
        """,
        columns(rows),
    )
