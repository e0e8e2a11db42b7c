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
from services.query.as_of import AS_OF
from services.query.heavy_reads import fold_rows

# Every version of each report recorded by `as_of`, with the verification its report had then: candidates, of
# which the domain picks the current version (services/domain/reports.py).
_VERSIONS = """
    SELECT t.*, verification_as_of(version_of, {as_of}) AS verification
    FROM {table} t
    WHERE incident_id = %(incident_id)s AND recorded_at <= {as_of} {extra}
"""


def _versions(table: str, extra: str = "") -> sql.Composed:
    return sql.SQL(_VERSIONS).format(table=sql.Identifier(table), as_of=sql.SQL(AS_OF), extra=sql.SQL(extra))


async def casualty_figures(conn: DictConnection, incident_id: str, as_of: datetime | None) -> list[FigureRow]:
    """Every version of every figure recorded by `as_of` (the history), with its report's verification then."""
    query = sql.SQL(
        """
        SELECT event_id, version_of, category, casualty_group, value, min, max, text, lower_bound, upper_bound,
               source, reason, occurred_at, reported_at, recorded_at, stream_seq, occurred_offset_min,
               reported_offset_min,
               verification_as_of(version_of, {as_of}) AS verification
        FROM casualty_figures
        WHERE incident_id = %(incident_id)s AND recorded_at <= {as_of}
        ORDER BY recorded_at, stream_seq, figure_index
        """
    ).format(as_of=sql.SQL(AS_OF))
    return await fold_rows(conn, query, FigureRow, {"incident_id": incident_id, "as_of": as_of})


async def election_events(conn: DictConnection, incident_id: str, as_of: datetime | None) -> list[ElectionRow]:
    params = {"incident_id": incident_id, "as_of": as_of}
    return await fold_rows(conn, _versions("election_events"), ElectionRow, params)


async def detention_events(conn: DictConnection, incident_id: str, as_of: datetime | None) -> list[DetentionRow]:
    params = {"incident_id": incident_id, "as_of": as_of}
    return await fold_rows(conn, _versions("detention_events"), DetentionRow, params)


async def statements(
    conn: DictConnection, incident_id: str, as_of: datetime | None, speaker: str | None
) -> list[StatementRow]:
    # every version of the reports that named the speaker in any version: a correction may name another
    named = "AND version_of IN (SELECT version_of FROM statements WHERE speaker_id = %(speaker)s)"
    query = _versions("statements", "" if speaker is None else named)
    params = {"incident_id": incident_id, "as_of": as_of, "speaker": speaker}
    return await fold_rows(conn, query, StatementRow, params)
