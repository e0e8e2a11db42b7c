"""The events of a selection (one incident's, or any across incidents) for the maps and the exports, as recorded
by `as_of`, in the order they happened: a chunk of rows at a time, however many there are.

The map reads each row as values (MapRow). The exports read what they write as text PostgreSQL renders beside
its read of the row, in its own process: an NDJSON line whole, and a CSV row's columns but those read from the
payload (services/query/exports.py). Parsing JSON into objects only to write them out again cost the query
process more than all else an export does (docs/performance.md, "The exports").
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from psycopg import sql
from psycopg.rows import AsyncRowFactory, class_row, tuple_row

from services.common.database import DictConnection
from services.query.as_of import AS_OF
from services.query.heavy_reads import EXPORT_CHUNK_ROWS, chunks
from services.query.selection import Selection

R = TypeVar("R")

# The planner's cost of a page read out of order, for these reads: PostgreSQL's default (4, a spinning disk's)
# made it read a country's 100k events by a bitmap scan, then sort them all (on disk) before the first row; at
# 1.1 (the usual figure for SSDs, or pages in memory) it walks the index in the export's order, and PostgreSQL
# reads while this process writes (docs/performance.md, "The exports").
RANDOM_PAGE_COST = 1.1
# A map's rows are made into objects (three JSON columns parsed) as a fetch lands, all at once on the event loop:
# about 10 µs a row: as many a fetch as every export had before (docs/performance.md, "The exports").
MAP_CHUNK_ROWS = 100


@dataclass(frozen=True, slots=True)
class MapRow:
    """A row as psycopg types it (no validation: the projector wrote it; a chunk costs the event loop little)."""

    event_id: UUID
    incident_id: str
    type: str
    occurred_at: str  # as the source gave it, offset included (RFC 3339, as ingest wrote it)
    occurred_precision: str
    source: dict[str, Any]
    location: dict[str, Any] | None
    data: dict[str, Any]
    verification: str


# (event id, incident, occurred_at as given, its precision, type, sub_type, place, admin area, country, lat, lon,
# source, source kind, verification, recorded_at, schema version, the payload as JSON text)
CsvRow = tuple[Any, ...]

VERIFICATION = "COALESCE(changed.status, 'reported')"  # not in the set: as reported
# services.domain.utc.rfc3339 of recorded_at, in the session's time zone as psycopg would read it: the seconds,
# their fraction only when there is one (isoformat's six digits), the offset, +00:00 written Z.
RECORDED_AT = """to_char(recorded_at, 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN mod(date_part('microseconds', recorded_at)::bigint, 1000000) = 0 THEN ''
            ELSE to_char(recorded_at, '.US') END
    || replace(to_char(recorded_at, 'TZH:TZM'), '+00:00', 'Z')"""

MAP_COLUMNS = """
    event_id, incident_id, type,
    envelope ->> 'occurred_at' AS occurred_at, envelope ->> 'occurred_precision' AS occurred_precision,
    envelope -> 'source' AS source, envelope -> 'location' AS location, envelope -> 'data' AS data,
    {verification} AS verification"""

CSV_COLUMNS = """
    event_id::text, incident_id, envelope ->> 'occurred_at', envelope ->> 'occurred_precision', type,
    envelope -> 'data' ->> 'sub_type', place, admin_area, country, lat, lon, source_name, source_kind,
    {verification}, {recorded_at},
    COALESCE((envelope ->> 'schema_version')::integer, 1), (envelope -> 'data')::text"""

# exports.ndjson's line, written by PostgreSQL: its separators (", ", ": ") and string escapes are json.dumps's
# (ensure_ascii=False); its numbers are as jsonb writes them, which exports.ndjson checks.
NDJSON_LINE = """
    concat('{{"position": ', stream_seq, ', "event_id": "', event_id,
           '", "incident_id": ', to_json(incident_id), ', "type": ', to_json(type),
           ', "occurred_at": ', COALESCE(envelope -> 'occurred_at', 'null'),
           ', "occurred_precision": ', COALESCE(envelope -> 'occurred_precision', 'null'),
           ', "recorded_at": "', {recorded_at}, '", "source": ', envelope -> 'source',
           ', "location": ', COALESCE(envelope -> 'location', 'null'), ', "verification": ', to_json({verification}),
           ', "data": ', envelope -> 'data', E'}}\\n')"""


def located(conn: DictConnection, selection: Selection) -> AsyncGenerator[list[MapRow]]:
    """The selection's events that give coordinates, for a map."""
    return _chunks(conn, map_query(selection), class_row(MapRow), selection, size=MAP_CHUNK_ROWS)


def csv_rows(conn: DictConnection, selection: Selection) -> AsyncGenerator[list[CsvRow]]:
    return _chunks(conn, csv_query(selection), tuple_row, selection)


def ndjson_lines(conn: DictConnection, selection: Selection) -> AsyncGenerator[list[tuple[str]]]:
    return _chunks(conn, ndjson_query(selection), tuple_row, selection)


def _chunks(
    conn: DictConnection,
    query: sql.Composed,
    make_row: AsyncRowFactory[R],
    selection: Selection,
    size: int = EXPORT_CHUNK_ROWS,
) -> AsyncGenerator[list[R]]:
    params = selection.params()
    return chunks(conn, query, make_row, params, size=size, random_page_cost=RANDOM_PAGE_COST)


def map_query(selection: Selection) -> sql.Composed:
    return _query(MAP_COLUMNS, selection, sql.SQL("lat IS NOT NULL"))


def csv_query(selection: Selection) -> sql.Composed:
    return _query(CSV_COLUMNS, selection)


def ndjson_query(selection: Selection) -> sql.Composed:
    return _query(NDJSON_LINE, selection)


def _query(columns: str, selection: Selection, *extra: sql.Composable) -> sql.Composed:
    conditions = [selection.where(), sql.SQL("recorded_at <= {as_of}").format(as_of=sql.SQL(AS_OF)), *extra]
    return sql.SQL(
        """
        SELECT {columns}
        FROM event_log LEFT JOIN verifications_as_of({as_of}) AS changed USING (event_id)
        WHERE {conditions}
        ORDER BY event_log.occurred_at, stream_seq  -- the instant, not the output text of the same name
        """
    ).format(
        columns=sql.SQL(columns.format(verification=VERIFICATION, recorded_at=RECORDED_AT)),
        as_of=sql.SQL(AS_OF),
        conditions=sql.SQL(" AND ").join(conditions),
    )
