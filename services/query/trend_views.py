"""Plain SQL for /v1/trends: a selection's events counted per interval (UTC buckets), optionally per group, every
bucket present (zeros included: generate_series); and the casualty reports' figures per bucket, folded toll by toll
by the domain (services/domain/casualty_trends.py).

What counts: the events that happened (not the fact changes about them: ReportCorrected, ReportRetracted,
VerificationChanged, EventsLinked), as recorded by `as_of`, without those retracted by then. A corrected report
counts once, in the bucket of when it happened, with its corrected figures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import class_row

from schemas.events.facts import EventsLinked, ReportCorrected, ReportRetracted, VerificationChanged
from services.common.database import DictConnection
from services.domain.casualties import FigureRow
from services.domain.casualty_trends import TrendFigure, bucket_figures
from services.query.as_of import AS_OF
from services.query.heavy_reads import chunks
from services.query.selection import Selection

Interval = Literal["day", "week", "month"]
GroupBy = Literal["type", "country", "incident"]

GROUP_COLUMNS: dict[str | None, str] = {None: "''", "type": "type", "country": "country", "incident": "incident_id"}
STEPS: dict[str, str] = {"day": "1 day", "week": "1 week", "month": "1 month"}
FACT_CHANGES = [cls.event_type() for cls in (ReportCorrected, ReportRetracted, VerificationChanged, EventsLinked)]

# The selection's events that count, each with its bucket (UTC) and group ('' for none).
_COUNTED = """
    SELECT event_id, incident_id, date_trunc(%(interval)s, occurred_at AT TIME ZONE 'UTC') AS bucket,
           COALESCE({group}, '') AS grp
    FROM event_log
    WHERE {where} AND type <> ALL(%(fact_changes)s)
          AND event_id NOT IN (SELECT retracted FROM retracted_as_of({as_of}) AS retracted)
"""


@dataclass(frozen=True)
class Span:
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class BucketCount:
    grp: str
    bucket: datetime  # naive UTC
    events: int


class BucketFigureRow(FigureRow):
    grp: str
    bucket: datetime
    report_incident: str


def params(selection: Selection, interval: Interval) -> dict[str, Any]:
    return {**selection.params(), "interval": interval, "step": STEPS[interval], "fact_changes": FACT_CHANGES}


def _counted(selection: Selection, group_by: GroupBy | None) -> sql.Composable:
    return sql.SQL(_COUNTED).format(
        group=sql.SQL(GROUP_COLUMNS[group_by]), where=selection.where(), as_of=sql.SQL(AS_OF)
    )


async def span(conn: DictConnection, selection: Selection) -> tuple[datetime | None, datetime | None]:
    """When the selection's first and last events happened (None, None: it has none)."""
    query = sql.SQL("SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM event_log WHERE {}").format(
        selection.where()
    )
    async with conn.cursor(row_factory=class_row(Span)) as cur:
        await cur.execute(query, selection.params())
        row = await cur.fetchone()
    assert row is not None
    return row.first, row.last


async def counts(
    conn: DictConnection,
    selection: Selection,
    interval: Interval,
    group_by: GroupBy | None,
    first: datetime,
    last: datetime,
) -> list[BucketCount]:
    """Every (group, bucket) from `first`'s bucket to `last`'s, with its count (0 included), by group then time."""
    async with conn.cursor(row_factory=class_row(BucketCount)) as cur:
        await cur.execute(
            counts_query(selection, group_by), {**params(selection, interval), "first": first, "last": last}
        )
        return await cur.fetchall()


def counts_query(selection: Selection, group_by: GroupBy | None) -> sql.Composed:
    groups = "SELECT DISTINCT grp FROM counted" if group_by else "SELECT '' AS grp"
    return sql.SQL(
        """
        WITH counted AS ({counted}),
             per_bucket AS (SELECT grp, bucket, count(*) AS events FROM counted GROUP BY grp, bucket),
             buckets AS (
                 SELECT generate_series(date_trunc(%(interval)s, %(first)s::timestamptz AT TIME ZONE 'UTC'),
                                        date_trunc(%(interval)s, %(last)s::timestamptz AT TIME ZONE 'UTC'),
                                        %(step)s::interval) AS bucket
             ),
             groups AS ({groups})
        SELECT g.grp, b.bucket, COALESCE(p.events, 0) AS events
        FROM groups g CROSS JOIN buckets b LEFT JOIN per_bucket p ON p.grp = g.grp AND p.bucket = b.bucket
        ORDER BY g.grp, b.bucket
        """
    ).format(counted=_counted(selection, group_by), groups=sql.SQL(groups))


async def figures(
    conn: DictConnection, selection: Selection, interval: Interval, group_by: GroupBy | None
) -> AsyncIterator[tuple[tuple[str, datetime], list[TrendFigure]]]:
    """Per (group, bucket) that has casualty reports, its figures; read from a server-side cursor and folded one
    (group, bucket) at a time, so the process holds one bucket's reports, however many the selection has."""
    rows = _rows(chunks(conn, figures_query(selection, group_by), BucketFigureRow, params(selection, interval)))
    pending: list[BucketFigureRow] = []
    async for row in rows:
        if pending and (row.grp, row.bucket) != (pending[0].grp, pending[0].bucket):
            yield (pending[0].grp, pending[0].bucket), _fold(pending)
            pending = []
        pending.append(row)
    if pending:
        yield (pending[0].grp, pending[0].bucket), _fold(pending)


def figures_query(selection: Selection, group_by: GroupBy | None) -> sql.Composed:
    return sql.SQL(
        """
        SELECT f.event_id, f.version_of, f.category, f.casualty_group, f.value, f.min, f.max, f.text,
               f.lower_bound, f.upper_bound, f.source, f.reason, f.occurred_at, f.reported_at, f.recorded_at,
               f.stream_seq,
               verification_as_of(f.version_of, {as_of}) AS verification,
               r.grp, r.bucket, r.incident_id AS report_incident
        FROM casualty_figures f JOIN ({counted}) r ON f.version_of = r.event_id
        WHERE f.recorded_at <= {as_of}
        ORDER BY r.grp, r.bucket, r.incident_id
        """
    ).format(as_of=sql.SQL(AS_OF), counted=_counted(selection, group_by))


async def _rows(chunked: AsyncIterator[list[BucketFigureRow]]) -> AsyncIterator[BucketFigureRow]:
    async for chunk in chunked:
        for row in chunk:
            yield row


def _fold(rows: list[BucketFigureRow]) -> list[TrendFigure]:
    """One bucket's rows, ordered by incident: one toll per incident."""
    return bucket_figures(list(toll) for _, toll in groupby(rows, key=lambda r: r.report_incident))
