"""A selection's events (one incident's, or any across incidents) as a GeoJSON FeatureCollection (RFC 7946:
[longitude, latitude]), as CSV with an HXL hashtag row under the headers (https://hxlstandard.org), for
humanitarian tools, and as NDJSON (one JSON object a line), for scripts.

All are written chunk by chunk as the rows arrive, so a streamed answer holds a chunk or two, never the selection.
A chunk is encoded on the event loop, between other requests: in a worker thread, the encoding held the GIL, and
each time the loop let go of it (to poll, to send), it waited for the thread's turn to end.
The rows come from a server-side cursor in a transaction on a pooled connection: however the answer ends (a client
that leaves mid-stream too), its generators are closed before the connection goes back to the pool. Left suspended,
they kept the transaction open, and psycopg refused to hand the connection back: an error in the log for each
client that left.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from schemas.catalogue import EVENT_TYPES, parse_payload
from schemas.events.base import EventPayload
from schemas.events.casualties import CasualtiesReported, CasualtyCategory, CasualtyFigure, CasualtyGroup
from schemas.values import ActorRef
from services.domain.actor_refs import actor_refs
from services.domain.descriptions import description, quantity_words
from services.domain.utc import rfc3339
from services.query.export_views import ExportRow


@dataclass(frozen=True, slots=True)
class Line:
    """A row with its payload read as its contract class (through the upcasters, as the stream's readers do), and
    what several columns read from it, found once: the actors it names, its figures and headline by category."""

    row: ExportRow
    payload: EventPayload
    refs: list[tuple[str, ActorRef]]
    figures: dict[CasualtyCategory, list[CasualtyFigure]]
    headlines: dict[CasualtyCategory, CasualtyFigure]

    @classmethod
    def of(cls, row: ExportRow) -> Line:
        payload = parse_payload(row.type, row.schema_version, row.data)
        figures: dict[CasualtyCategory, list[CasualtyFigure]] = {}
        for figure in payload.figures if isinstance(payload, CasualtiesReported) else []:
            figures.setdefault(figure.category, []).append(figure)
        headlines = {category: found for category, given in figures.items() if (found := _headline(given))}
        return cls(row, payload, list(actor_refs(payload)), figures, headlines)


def _headline(figures: list[CasualtyFigure]) -> CasualtyFigure | None:
    """A category's figure for the number columns: the total, else the only group given; a report stored before
    one figure per category and group was the rule gives its last, as the casualties view reads it."""
    totals = [f for f in figures if f.group is CasualtyGroup.TOTAL]
    if totals:
        return totals[-1]
    return figures[0] if len(figures) == 1 else None


def _figure_columns(category: CasualtyCategory) -> list[tuple[str, str, Callable[[Line], object]]]:
    """A category's figure: the exact value, the bounds it implies (open or unknown: empty), the source's words,
    and every group's figure when the report counts groups."""

    def value(line: Line) -> object:
        figure = line.headlines.get(category)
        return "" if figure is None or figure.count.value is None else figure.count.value

    def bound(index: int) -> Callable[[Line], object]:
        def read(line: Line) -> object:
            figure = line.headlines.get(category)
            found = None if figure is None else figure.count.bounds[index]
            return "" if found is None else found

        return read

    def words(line: Line) -> object:
        figure = line.headlines.get(category)
        return "" if figure is None else figure.count.text or ""

    def groups(line: Line) -> object:
        figures = line.figures.get(category, [])
        if all(f.group is CasualtyGroup.TOTAL for f in figures):
            return ""
        return "; ".join(f"{f.group.value}: {quantity_words(f.count)}" for f in figures)

    name = category.value
    return [
        (name, f"#affected+{name}", value),
        (f"{name}_lower", f"#affected+{name}+min", bound(0)),
        (f"{name}_upper", f"#affected+{name}+max", bound(1)),
        (f"{name}_words", f"#affected+{name}+text", words),
        (f"{name}_by_group", f"#affected+{name}+group", groups),
    ]


def _actors(line: Line) -> str:
    """Everyone the report names, with where it names them: "person: Almazbek Atambayev; detained by: ..."."""
    return "; ".join(f"{path.split('.')[0].replace('_', ' ')}: {ref.name}" for path, ref in line.refs)


# (header, HXL hashtag, value of a line)
COLUMNS: list[tuple[str, str, Callable[[Line], object]]] = [
    ("event_id", "#event+id", lambda line: line.row.event_id),
    ("incident_id", "#crisis+id", lambda line: line.row.incident_id),
    ("date", "#date+occurred", lambda line: line.row.occurred_at[:10]),  # the source's day, at its offset
    ("date_precision", "#date+precision", lambda line: line.row.occurred_precision),
    ("occurred_at", "#date+occurred+time", lambda line: line.row.occurred_at),
    ("event_type", "#event+type", lambda line: line.row.type),
    ("acled_event_type", "#event+type+acled", lambda line: _acled(line.row.type)),
    ("sub_type", "#event+type+sub", lambda line: line.row.data.get("sub_type", "")),
    ("actors", "#actor+name", _actors),
    ("actor_ids", "#actor+code", lambda line: "; ".join(dict.fromkeys(ref.id for _, ref in line.refs))),
    *(column for category in CasualtyCategory for column in _figure_columns(category)),
    ("location", "#loc+name", lambda line: (line.row.location or {}).get("name", "")),
    ("admin_area", "#adm1+name", lambda line: (line.row.location or {}).get("admin_area") or ""),
    ("country", "#country+code", lambda line: (line.row.location or {}).get("country", "")),
    ("latitude", "#geo+lat", lambda line: _coordinate(line.row, "lat")),
    ("longitude", "#geo+lon", lambda line: _coordinate(line.row, "lon")),
    ("source", "#meta+source", lambda line: line.row.source["name"]),
    ("source_kind", "#meta+source+type", lambda line: line.row.source["kind"]),
    ("verification", "#status+verification", lambda line: line.row.verification),
    ("recorded_at", "#date+recorded", lambda line: rfc3339(line.row.recorded_at)),
    ("description", "#description", lambda line: description(line.payload)),
]


# json.dumps(value, ensure_ascii=False), without building an encoder per call
_json = json.JSONEncoder(ensure_ascii=False).encode


def _acled(event_type: str) -> str:
    payload = EVENT_TYPES.get(event_type)
    return (payload.acled_event_type if payload else None) or ""


def _coordinate(row: ExportRow, axis: str) -> object:
    value = (row.location or {}).get(axis)
    return "" if value is None else value


def _feature(row: ExportRow, location: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(row.event_id),
        "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
        "properties": {
            "event_id": str(row.event_id),
            "incident_id": row.incident_id,
            "type": row.type,
            "occurred_at": row.occurred_at,
            "occurred_on": row.occurred_at[:10],
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
            features = [_json(_feature(row, row.location)) for row in rows if row.location]
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
            yield _csv_lines([[value(line) for _, _, value in COLUMNS] for line in map(Line.of, rows)])
    finally:
        await _close(chunks)


def _csv_lines(lines: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()


def _ndjson_line(row: ExportRow) -> str:
    return _json(
        {
            "position": row.position,
            "event_id": str(row.event_id),
            "incident_id": row.incident_id,
            "type": row.type,
            "occurred_at": row.occurred_at,
            "occurred_precision": row.occurred_precision,
            "recorded_at": rfc3339(row.recorded_at),
            "source": row.source,
            "location": row.location,
            "verification": row.verification,
            "data": row.data,
        }
    )


async def ndjson(chunks: AsyncIterator[list[ExportRow]]) -> AsyncIterator[str]:
    """One event a line, in pieces."""
    try:
        async for rows in chunks:
            yield "".join(_ndjson_line(row) + "\n" for row in rows)
    finally:
        await _close(chunks)
