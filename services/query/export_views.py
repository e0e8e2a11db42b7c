"""The events of a selection (one incident's, or any across incidents) for the maps and the exports, as recorded
by `as_of`, in the order they happened: a chunk of rows at a time, however many there are."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row

from services.common.database import DictConnection
from services.query.as_of import AS_OF
from services.query.heavy_reads import EXPORT_CHUNK_ROWS, chunks
from services.query.selection import Selection


@dataclass(frozen=True, slots=True)
class ExportRow:
    """A row as psycopg types it (no validation: the projector wrote it; a chunk costs the event loop little)."""

    position: int
    event_id: UUID
    incident_id: str
    type: str
    schema_version: int
    occurred_at: str  # as the source gave it, offset included (RFC 3339, as ingest wrote it)
    occurred_precision: str
    recorded_at: datetime
    source: dict[str, Any]
    location: dict[str, Any] | None
    data: dict[str, Any]
    verification: str


def events(conn: DictConnection, selection: Selection, *, located_only: bool) -> AsyncGenerator[list[ExportRow]]:
    query = events_query(selection, located_only=located_only)
    return chunks(conn, query, class_row(ExportRow), selection.params(), size=EXPORT_CHUNK_ROWS)


def events_query(selection: Selection, *, located_only: bool) -> sql.Composed:
    conditions = [selection.where(), sql.SQL("recorded_at <= {as_of}").format(as_of=sql.SQL(AS_OF))]
    if located_only:
        conditions.append(sql.SQL("lat IS NOT NULL"))
    return sql.SQL(
        """
        SELECT stream_seq AS position, event_id, incident_id, type,
               COALESCE((envelope ->> 'schema_version')::integer, 1) AS schema_version,
               envelope ->> 'occurred_at' AS occurred_at, envelope ->> 'occurred_precision' AS occurred_precision,
               recorded_at, envelope -> 'source' AS source,
               envelope -> 'location' AS location, envelope -> 'data' AS data,
               COALESCE(changed.status, 'reported') AS verification  -- unchanged: as reported
        FROM event_log LEFT JOIN verifications_as_of({as_of}) AS changed USING (event_id)
        WHERE {conditions}
        ORDER BY event_log.occurred_at, stream_seq  -- the instant, not the output text of the same name
        """
    ).format(as_of=sql.SQL(AS_OF), conditions=sql.SQL(" AND ").join(conditions))
