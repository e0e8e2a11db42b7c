"""The incident's events as a GeoJSON FeatureCollection (RFC 7946: [longitude, latitude]) and as CSV with an HXL
hashtag row under the headers (https://hxlstandard.org), for humanitarian tools.

Both are written chunk by chunk as the rows arrive, so a streamed answer holds one chunk, never the incident.
The rows come from a server-side cursor in a transaction on a pooled connection: however the answer ends (a client
that leaves mid-stream too), its generators are closed before the connection goes back to the pool. Left suspended,
they kept the transaction open, and psycopg refused to hand the connection back: an error in the log for each
client that left.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from schemas.catalogue import EVENT_TYPES
from services.query.export_views import ExportRow

# (header, HXL hashtag, value of a row)
COLUMNS: list[tuple[str, str, Any]] = [
    ("event_id", "#event+id", lambda r: r.event_id),
    ("date", "#date+occurred", lambda r: r.occurred_at.isoformat()),
    ("date_precision", "#date+precision", lambda r: r.occurred_precision),
    ("event_type", "#event+type", lambda r: r.type),
    ("acled_event_type", "#event+type+acled", lambda r: _acled(r.type)),
    ("sub_type", "#event+type+sub", lambda r: r.data.get("sub_type", "")),
    ("location", "#loc+name", lambda r: (r.location or {}).get("name", "")),
    ("admin_area", "#adm1+name", lambda r: (r.location or {}).get("admin_area") or ""),
    ("country", "#country+code", lambda r: (r.location or {}).get("country", "")),
    ("latitude", "#geo+lat", lambda r: _coordinate(r, "lat")),
    ("longitude", "#geo+lon", lambda r: _coordinate(r, "lon")),
    ("source", "#meta+source", lambda r: r.source["name"]),
    ("source_kind", "#meta+source+type", lambda r: r.source["kind"]),
    ("verification", "#status+verification", lambda r: r.verification),
    ("recorded_at", "#date+recorded", lambda r: r.recorded_at.isoformat()),
    ("description", "#description", lambda r: _description(r.data)),
]


def _acled(event_type: str) -> str:
    payload = EVENT_TYPES.get(event_type)
    return (payload.acled_event_type if payload else None) or ""


def _coordinate(row: ExportRow, axis: str) -> object:
    value = (row.location or {}).get(axis)
    return "" if value is None else value


def _description(data: dict[str, Any]) -> str:
    for key in ("description", "quote", "reason", "summary", "purpose"):
        if isinstance(data.get(key), str):
            return str(data[key])
    return ""


def _feature(row: ExportRow, location: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(row.event_id),
        "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
        "properties": {
            "event_id": str(row.event_id),
            "type": row.type,
            "occurred_at": row.occurred_at.isoformat(),
            "occurred_precision": row.occurred_precision,
            "location": location,
            "source": row.source,
            "verification": row.verification,
            "data": row.data,
        },
    }


class StreamedExport(StreamingResponse):
    """A streamed export that closes its pieces' generator when it ends, however it ends."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await _close(self.body_iterator)


async def _close(pieces: object) -> None:
    if isinstance(pieces, AsyncGenerator):
        await pieces.aclose()


async def feature_collection(chunks: AsyncIterator[list[ExportRow]]) -> AsyncIterator[str]:
    """The located rows as one GeoJSON FeatureCollection, in pieces."""
    try:
        separator = ""
        yield '{"type": "FeatureCollection", "features": ['
        async for rows in chunks:
            features = [json.dumps(_feature(row, row.location), ensure_ascii=False) for row in rows if row.location]
            if features:
                yield separator + ", ".join(features)
                separator = ", "
        yield "]}"
    finally:
        await _close(chunks)


async def hxl_csv(chunks: AsyncIterator[list[ExportRow]]) -> AsyncIterator[str]:
    """The header row, the HXL hashtag row, then one row per event, in pieces."""
    try:
        yield _csv_lines([[header for header, _, _ in COLUMNS], [tag for _, tag, _ in COLUMNS]])
        async for rows in chunks:
            yield _csv_lines([[value(row) for _, _, value in COLUMNS] for row in rows])
    finally:
        await _close(chunks)


def _csv_lines(lines: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()
