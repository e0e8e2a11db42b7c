"""The incident's events as a GeoJSON FeatureCollection (RFC 7946: [longitude, latitude]) and as CSV with an HXL
hashtag row under the headers (https://hxlstandard.org), for humanitarian tools."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

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


def feature_collection(rows: Iterable[ExportRow]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": str(row.event_id),
                "geometry": {"type": "Point", "coordinates": [row.location["lon"], row.location["lat"]]},
                "properties": {
                    "event_id": str(row.event_id),
                    "type": row.type,
                    "occurred_at": row.occurred_at.isoformat(),
                    "occurred_precision": row.occurred_precision,
                    "location": row.location,
                    "source": row.source,
                    "verification": row.verification,
                    "data": row.data,
                },
            }
            for row in rows
            if row.location is not None
        ],
    }


def hxl_csv(rows: Iterable[ExportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header for header, _, _ in COLUMNS])
    writer.writerow([tag for _, tag, _ in COLUMNS])
    writer.writerows([[value(row) for _, _, value in COLUMNS] for row in rows])
    return out.getvalue()
