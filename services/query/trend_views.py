"""Plain SQL for /v1/trends: a selection's events counted per interval (UTC buckets), optionally per group, every
bucket present (zeros included: generate_series); and the casualty reports' figures per bucket, folded toll by toll
by the domain (services/domain/casualty_trends.py).

What counts: the events that happened (not the fact changes about them: ReportCorrected, ReportRetracted,
VerificationChanged, EventsLinked), as recorded by `as_of`, without those retracted by then. A corrected report
counts once, in the bucket of when it happened, with its corrected figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import groupby
from typing import Any, Literal, cast
from uuid import UUID

from psycopg import pq, sql
from psycopg.rows import args_row, class_row

from schemas.events.casualties import CasualtiesReported
from schemas.events.facts import EventsLinked, ReportCorrected, ReportRetracted, VerificationChanged
from services.common.database import DictConnection
from services.domain.casualty_trends import TrendFigure, bucket_figures
from services.query.as_of import AS_OF
from services.query.selection import Selection

Interval = Literal["day", "week", "month"]
FIGURE_CHUNK_ROWS = 1000  # a year of a country's casualty reports in one to five chunks (200k to 1M events)
FOLD_ON_LOOP_ROWS = 100  # about 0.5 ms of folding at 5 µs a report
# Rows a chunk of the stream: libpq sends chunks of many rows from version 17 on, single rows before.
_STREAMED_ROWS = FIGURE_CHUNK_ROWS if pq.version() >= 170000 else 1
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


@dataclass(slots=True)
class BucketFigureRow:
    """One figure of one version of a casualty report in a bucket, as the rule reads it (FigureFields): a plain
    row as the database gives it. Validated as a model it cost about 6 µs a row, as much as its fold now."""

    event_id: UUID
    version_of: UUID
    category: str
    casualty_group: str
    value: int | None
    min: int | None
    max: int | None
    lower_bound: int | None
    upper_bound: int | None
    source: dict[str, Any]
    occurred_at: datetime
    reported_at: datetime | None
    recorded_at: datetime
    stream_seq: int
    verification: str
    grp: str
    bucket: datetime  # naive UTC
    report_incident: str


# The figures' columns in BucketFigureRow's field order: its rows are made from the values in order (args_row); by
# name (class_row, a dict a row) they cost about 5 µs a row, as much as loading the values.
_FIGURE_COLUMNS = sql.SQL(", ").join(sql.Identifier(field.name) for field in fields(BucketFigureRow))


def params(selection: Selection, interval: Interval) -> dict[str, Any]:
    return {
        **selection.params(),
        "interval": interval,
        "step": STEPS[interval],
        "fact_changes": FACT_CHANGES,
        "casualty_report": CasualtiesReported.event_type(),
    }


def _counted(selection: Selection, group_by: GroupBy | None, *, reports_only: bool = False) -> sql.Composable:
    """The counted events; `reports_only`: only casualty reports, the events with figures (so that the planner
    walks the (country, type, ...) index to the reports, then each one's figures by index, instead of hashing
    every figure of the table)."""
    where = selection.where()
    if reports_only:
        where = sql.SQL("{} AND type = %(casualty_report)s").format(where)
    return sql.SQL(_COUNTED).format(group=sql.SQL(GROUP_COLUMNS[group_by]), where=where, as_of=sql.SQL(AS_OF))


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
    """Per (group, bucket) that has casualty reports, its figures; read FIGURE_CHUNK_ROWS at a time and folded a
    chunk's complete buckets at a time, so the process holds about one chunk, however many reports the selection
    has; a fold of more than FOLD_ON_LOOP_ROWS rows runs in a worker thread, off the event loop (`_folded`)."""
    pending: list[BucketFigureRow] = []
    async for chunk in _figure_rows(conn, figures_query(selection, group_by), params(selection, interval)):
        pending += chunk
        open_bucket = _bucket_start(pending)  # the last bucket may go on in the next chunk
        if open_bucket:
            for folded in await _folded(pending[:open_bucket]):
                yield folded
            pending = pending[open_bucket:]
    if pending:
        for folded in await _folded(pending):
            yield folded


async def _folded(rows: list[BucketFigureRow]) -> list[tuple[tuple[str, datetime], list[TrendFigure]]]:
    """The fold of `rows`: in a worker thread, off the event loop; on it when they are few (FOLD_ON_LOOP_ROWS),
    as the hop to the thread and back costs more than such a fold."""
    if len(rows) <= FOLD_ON_LOOP_ROWS:
        return _fold_buckets(rows)
    return await asyncio.to_thread(_fold_buckets, rows)


async def _figure_rows(
    conn: DictConnection, query: sql.Composed, values: dict[str, Any]
) -> AsyncIterator[list[BucketFigureRow]]:
    """The statement's rows, FIGURE_CHUNK_ROWS at a time as PostgreSQL sends them (libpq's chunked mode): one round
    trip. A server-side cursor took seven (BEGIN, SET LOCAL, DECLARE, two FETCHes, CLOSE, COMMIT), about a third of
    a request's CPU in the query process when a selection's figures fit one chunk."""
    chunk: list[BucketFigureRow] = []
    cursor = conn.cursor(row_factory=args_row(BucketFigureRow))
    stream = cast(AsyncGenerator[BucketFigureRow], cursor.stream(query, values, size=_STREAMED_ROWS))  # typed loosely
    async with cursor, aclosing(stream) as rows:
        async for row in rows:
            chunk.append(row)
            if len(chunk) == FIGURE_CHUNK_ROWS:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _bucket_start(rows: list[BucketFigureRow]) -> int:
    """Where the last row's (group, bucket) begins in `rows`, ordered by group and bucket."""
    last = (rows[-1].grp, rows[-1].bucket)
    start = len(rows) - 1
    while start > 0 and (rows[start - 1].grp, rows[start - 1].bucket) == last:
        start -= 1
    return start


def figures_query(selection: Selection, group_by: GroupBy | None) -> sql.Composed:
    return sql.SQL(
        """
        SELECT {columns}
        FROM (
            SELECT f.*, v.verification, r.grp, r.bucket, r.incident_id AS report_incident
            FROM ({counted}) r
                 -- each report's figures by the version_of index (OFFSET 0 keeps the subquery apart: joined flat,
                 -- PostgreSQL hashed every figure of the table, 150,000 rows at a million events, for a few
                 -- thousand)
                 CROSS JOIN LATERAL (
                     SELECT * FROM casualty_figures f WHERE f.version_of = r.event_id AND f.recorded_at <= {as_of}
                     OFFSET 0
                 ) f
                 CROSS JOIN LATERAL verification_at(f.version_of, {as_of}) v
        ) figure
        ORDER BY grp, bucket, report_incident
        """
    ).format(columns=_FIGURE_COLUMNS, as_of=sql.SQL(AS_OF), counted=_counted(selection, group_by, reports_only=True))


def _fold_buckets(rows: list[BucketFigureRow]) -> list[tuple[tuple[str, datetime], list[TrendFigure]]]:
    """Rows ordered by group, bucket and incident: each bucket's figures, one toll per incident."""
    return [
        (key, bucket_figures(list(toll) for _, toll in groupby(bucket, key=lambda r: r.report_incident)))
        for key, bucket in groupby(rows, key=lambda r: (r.grp, r.bucket))
    ]
