"""`casualties`: every figure of every casualty report and of each correction of one, as the source gave it."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.events.casualties import CasualtiesReported
from schemas.events.facts import ReportCorrected
from services.domain.utc import offset_minutes
from services.projector.projection import Projection, json_rows, nested_json
from services.projector.read_models.versions import Version, Versions

casualties = Projection("casualties", tables=("casualty_figures",))
versions = Versions(casualties, "casualty_figures")


def _figure_rows(version: Version) -> list[dict[str, Any]]:
    event, report = version.event, version.values
    reason = event.data.reason if isinstance(event.data, ReportCorrected) else None
    source = nested_json(event.source)
    rows = []
    for index, figure in enumerate(report.figures):
        lower, upper = figure.count.bounds
        rows.append(
            {
                "event_id": event.event_id,
                "figure_index": index,
                "version_of": version.version_of,
                "incident_id": event.incident_id,
                "type": CasualtiesReported.event_type(),
                "category": figure.category.value,
                "value": figure.count.value,
                "min": figure.count.min,
                "max": figure.count.max,
                "text": figure.count.text,
                "lower_bound": lower,
                "upper_bound": upper,
                "source": source,
                "reason": reason,
                "occurred_at": event.occurred_at,
                "reported_at": event.reported_at,
                "recorded_at": event.recorded_at,
                "stream_seq": version.pos.seq,
                "occurred_offset_min": offset_minutes(event.occurred_at),
                "reported_offset_min": offset_minutes(event.reported_at),
                "casualty_group": figure.group.value,
            }
        )
    return rows


@versions.writer(CasualtiesReported)
async def write_figures(conn: AsyncConnection[Any], written: Sequence[Version]) -> None:
    """Every figure of these versions in one statement, the rows as one JSON document."""
    rows = [row for version in written for row in _figure_rows(version)]
    await conn.execute(
        """
        INSERT INTO casualty_figures (event_id, figure_index, version_of, incident_id, type, category, value, min,
                                      max, text, lower_bound, upper_bound, source, reason, occurred_at,
                                      reported_at, recorded_at, stream_seq, occurred_offset_min,
                                      reported_offset_min, casualty_group)
        SELECT * FROM jsonb_to_recordset(%s::jsonb)
            AS r(event_id uuid, figure_index int, version_of uuid, incident_id text, type text, category text,
                 value int, min int, max int, text text, lower_bound int, upper_bound int, source jsonb, reason text,
                 occurred_at timestamptz, reported_at timestamptz, recorded_at timestamptz, stream_seq bigint,
                 occurred_offset_min int, reported_offset_min int, casualty_group text)
        ON CONFLICT (event_id, figure_index) DO NOTHING
        """,
        (json_rows(rows),),
    )
