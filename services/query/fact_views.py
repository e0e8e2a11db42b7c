"""Plain SQL over the domain read models, as the system knew them at `as_of` (recorded time; None: now).

Rows recorded after `as_of` are ignored, so a correction recorded later does not show, and each row carries the
verification status its report had at `as_of`. The domain functions fold the rows into the answers.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from services.common.database import DictConnection
from services.domain.casualties import FigureRow
from services.domain.detentions import DetentionRow
from services.domain.elections import ElectionRow
from services.domain.statements import StatementRow
from services.query.heavy_reads import fold_rows
from services.query.views import AS_OF

# The current version of each report in a versioned table, unless retracted.
_CURRENT_VERSIONS = """
    SELECT * FROM (
        SELECT DISTINCT ON (version_of) t.*, verification_as_of(version_of, {as_of}) AS verification
        FROM {table} t
        WHERE incident_id = %(incident_id)s AND recorded_at <= {as_of} {extra}
        ORDER BY version_of, recorded_at DESC, stream_seq DESC
    ) current WHERE verification <> 'retracted'
"""


def _current(table: str, extra: str = "") -> sql.Composed:
    return sql.SQL(_CURRENT_VERSIONS).format(table=sql.Identifier(table), as_of=sql.SQL(AS_OF), extra=sql.SQL(extra))


async def casualty_figures(conn: DictConnection, incident_id: str, as_of: datetime | None) -> list[FigureRow]:
    """Every version of every figure recorded by `as_of` (the history), with its report's verification then."""
    query = sql.SQL(
        """
        SELECT event_id, version_of, category, value, min, max, text, lower_bound, upper_bound, source, reason,
               occurred_at, reported_at, recorded_at, stream_seq,
               verification_as_of(version_of, {as_of}) AS verification
        FROM casualty_figures
        WHERE incident_id = %(incident_id)s AND recorded_at <= {as_of}
        ORDER BY recorded_at, stream_seq, figure_index
        """
    ).format(as_of=sql.SQL(AS_OF))
    return await fold_rows(conn, query, FigureRow, {"incident_id": incident_id, "as_of": as_of})


async def election_events(conn: DictConnection, incident_id: str, as_of: datetime | None) -> list[ElectionRow]:
    params = {"incident_id": incident_id, "as_of": as_of}
    return await fold_rows(conn, _current("election_events"), ElectionRow, params)


async def detention_events(conn: DictConnection, incident_id: str, as_of: datetime | None) -> list[DetentionRow]:
    params = {"incident_id": incident_id, "as_of": as_of}
    return await fold_rows(conn, _current("detention_events"), DetentionRow, params)


async def statements(
    conn: DictConnection, incident_id: str, as_of: datetime | None, speaker: str | None
) -> list[StatementRow]:
    query = _current("statements", "" if speaker is None else "AND speaker_id = %(speaker)s")
    params = {"incident_id": incident_id, "as_of": as_of, "speaker": speaker}
    return await fold_rows(conn, query, StatementRow, params)
