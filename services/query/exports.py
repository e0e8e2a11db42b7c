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

import asyncio
import csv
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from schemas.catalogue import EVENT_TYPES, parse_stored_payload
from schemas.events.base import EventPayload
from schemas.events.casualties import CasualtiesReported, CasualtyCategory, CasualtyFigure, CasualtyGroup
from services.domain.actor_refs import actor_refs, refs_in_stored, stored_ref_fields
from services.domain.descriptions import description, quantity_words, stored_account
from services.query.export_views import CsvRow, MapRow

R = TypeVar("R")
# Rows encoded between two turns of the event loop: 1-2 ms of a CSV's (11-16 µs a row), an NDJSON's less. The
# rows come EXPORT_CHUNK_ROWS a fetch.
ENCODED_ROWS = 100


@dataclass(frozen=True, slots=True)
class Line:
    """A row's payload read as its contract class (through the upcasters, as the stream's readers do), and what
    several columns read from it, found once: the actors it names, its figures and headline by category."""

    payload: EventPayload
    figures: dict[CasualtyCategory, list[CasualtyFigure]]
    headlines: dict[CasualtyCategory, CasualtyFigure]

    @classmethod
    def of(cls, payload: EventPayload) -> Line:
        figures: dict[CasualtyCategory, list[CasualtyFigure]] = {}
        for figure in payload.figures if isinstance(payload, CasualtiesReported) else []:
            figures.setdefault(figure.category, []).append(figure)
        headlines = {category: found for category, given in figures.items() if (found := _headline(given))}
        return cls(payload, figures, headlines)


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


def _actor_columns(named: list[tuple[str, str, str]]) -> list[str]:
    """Everyone the report names (field, name, id), with where it names them ("person: Almazbek Atambayev;
    detained by: ..."), and their ids, each once."""
    return [
        "; ".join(f"{field.replace('_', ' ')}: {name}" for field, name, _ in named),
        "; ".join(dict.fromkeys(actor_id for _, _, actor_id in named)),
    ]


def _payload_values(event_type: str, schema_version: int, data: str) -> tuple[list[object], str]:
    """The columns read from the payload: the actors, their ids and the figures, in COLUMNS' order; the description.
    A payload at its type's current version that gives no figures, names actors only in fields of their own and
    gives its own account is read from its stored JSON as it is, without its contract class: that is what the
    class would read from it (tests/unit/test_export_payload_columns.py), and validating it cost as much as all
    the rest of its row."""
    cls = EVENT_TYPES.get(event_type)
    if cls is not None and cls.schema_version == schema_version and cls is not CasualtiesReported:
        ref_fields = stored_ref_fields(cls)
        if ref_fields is not None:
            stored = orjson.loads(data)
            account = stored_account(cls, stored)
            if account is not None:
                named = [(field, ref["name"], ref["id"]) for field, ref in refs_in_stored(ref_fields, stored)]
                return [*_actor_columns(named), *NO_FIGURES], account
    return _model_values(event_type, schema_version, data)


def _model_values(event_type: str, schema_version: int, data: str) -> tuple[list[object], str]:
    """`_payload_values` read through the payload's contract class."""
    line = Line.of(parse_stored_payload(event_type, schema_version, data))
    named = [(path.split(".")[0], ref.name, ref.id) for path, ref in actor_refs(line.payload)]
    figures = [value(line) for _, _, value in FIGURE_COLUMNS] if line.figures else NO_FIGURES
    return [*_actor_columns(named), *figures], description(line.payload)


FIGURE_COLUMNS = [column for category in CasualtyCategory for column in _figure_columns(category)]
NO_FIGURES = [""] * len(FIGURE_COLUMNS)  # a report that gives none: every figure column empty

# (header, HXL hashtag), in the order of _csv_values
COLUMNS: list[tuple[str, str]] = [
    ("event_id", "#event+id"),
    ("incident_id", "#crisis+id"),
    ("date", "#date+occurred"),
    ("date_precision", "#date+precision"),
    ("occurred_at", "#date+occurred+time"),
    ("event_type", "#event+type"),
    ("acled_event_type", "#event+type+acled"),
    ("sub_type", "#event+type+sub"),
    ("actors", "#actor+name"),
    ("actor_ids", "#actor+code"),
    *((header, tag) for header, tag, _ in FIGURE_COLUMNS),
    ("location", "#loc+name"),
    ("admin_area", "#adm1+name"),
    ("country", "#country+code"),
    ("latitude", "#geo+lat"),
    ("longitude", "#geo+lon"),
    ("source", "#meta+source"),
    ("source_kind", "#meta+source+type"),
    ("verification", "#status+verification"),
    ("recorded_at", "#date+recorded"),
    ("description", "#description"),
]


def _csv_values(row: CsvRow) -> list[object]:
    """A row's values in the order of COLUMNS: PostgreSQL's text (export_views.CSV_COLUMNS) where a column is a
    field of the row, the payload read through its contract class where a column reads the payload."""
    (event_id, incident_id, occurred_at, precision, event_type, sub_type, place, admin_area, country, lat, lon,
     source, source_kind, verification, recorded_at, schema_version, data) = row  # fmt: skip
    payload_columns, account = _payload_values(event_type, schema_version, data)
    return [
        event_id,
        incident_id,
        occurred_at[:10],  # the source's day, at its offset
        precision,
        occurred_at,
        event_type,
        _acled(event_type),
        sub_type,
        *payload_columns,
        place,
        admin_area,
        country,
        lat,
        lon,
        source,
        source_kind,
        verification,
        recorded_at,
        account,
    ]


# json.dumps(value, ensure_ascii=False), without building an encoder per call
_json = json.JSONEncoder(ensure_ascii=False).encode


def _acled(event_type: str) -> str:
    payload = EVENT_TYPES.get(event_type)
    return (payload.acled_event_type if payload else None) or ""


def _feature(row: MapRow, location: dict[str, Any]) -> dict[str, Any]:
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


async def feature_collection(chunks: AsyncIterator[list[MapRow]]) -> AsyncIterator[str]:
    """The located rows as one GeoJSON FeatureCollection, in pieces."""
    try:
        separator = ""
        yield '{"type": "FeatureCollection", "features": ['
        async for features in _encoded(chunks, _features):
            if features:
                yield separator + features
                separator = ", "
        yield "]}"
    finally:
        await _close(chunks)


def _features(rows: list[MapRow]) -> str:
    return ", ".join(_json(_feature(row, row.location)) for row in rows if row.location)


async def hxl_csv(chunks: AsyncIterator[list[CsvRow]]) -> AsyncIterator[str]:
    """The header row, the HXL hashtag row, then one row per event, in pieces."""
    try:
        yield _csv_lines([[header for header, _ in COLUMNS], [tag for _, tag in COLUMNS]])
        async for lines in _encoded(chunks, lambda rows: _csv_lines(list(map(_csv_values, rows)))):
            yield lines
    finally:
        await _close(chunks)


def _csv_lines(lines: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()


# jsonb writes a number as its digits (0.00001), json.dumps a float from them as Python's repr (1e-05): the two
# differ below 1e-4 only (from 1e16 up, pydantic and json.dumps write exponents, which jsonb reads as integers).
# A line with such digits, or text that merely looks so, takes the longer way.
_RESPELLED = "0.0000"


async def ndjson(chunks: AsyncIterator[list[tuple[str]]]) -> AsyncIterator[str]:
    """One event a line (export_views.NDJSON_LINE), in pieces; a line with a number json.dumps would spell otherwise
    is read and written again, as it was before PostgreSQL wrote the lines."""
    try:
        async for lines in _encoded(chunks, _ndjson_lines):
            yield lines
    finally:
        await _close(chunks)


def _ndjson_lines(rows: list[tuple[str]]) -> str:
    return "".join(line if _RESPELLED not in line else _json(orjson.loads(line)) + "\n" for (line,) in rows)


async def _encoded(chunks: AsyncIterator[list[R]], encode: Callable[[list[R]], str]) -> AsyncIterator[str]:
    """Each chunk encoded ENCODED_ROWS rows at a time, the event loop let go between them: a fetch of many rows
    costs PostgreSQL and this process fewer round trips (each a wait for two processes to be scheduled, on a busy
    machine), an encoding of a few holds the other requests up for less (sending a piece need not let go)."""
    async for rows in chunks:
        for start in range(0, len(rows), ENCODED_ROWS):
            yield encode(rows[start : start + ENCODED_ROWS])
            await asyncio.sleep(0)
