"""A selection of events, across incidents or within one, as SQL conditions over `event_log`: what the timeline,
/v1/events, /v1/trends, the maps and the exports narrow their answers to.

Only the conditions in use go into a statement (so the planner picks the index of the filters actually given),
and every value reaches PostgreSQL as a bound parameter: the statement text depends only on which filters are set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from services.query.as_of import AS_OF

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_OF_LATITUDE = math.pi * EARTH_RADIUS_KM / 180

# The query's web-search text as a tsquery, in the configuration the search vector was built with (migration 0008).
TSQUERY = "websearch_to_tsquery('crisis_search', %(text)s)"


@dataclass(frozen=True)
class BBox:
    """A box in degrees; min_lon > max_lon crosses the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class Near:
    lat: float
    lon: float
    radius_km: float

    def box(self) -> BBox:
        """A box around the circle, for the index; the distance then decides. Near a pole or across the
        antimeridian it spans every longitude."""
        dlat = self.radius_km / KM_PER_DEGREE_OF_LATITUDE
        min_lat, max_lat = max(-90.0, self.lat - dlat), min(90.0, self.lat + dlat)
        widest = max(abs(min_lat), abs(max_lat))
        if widest >= 89.0:
            return BBox(-180.0, min_lat, 180.0, max_lat)
        dlon = dlat / math.cos(math.radians(widest))
        if self.lon - dlon < -180 or self.lon + dlon > 180:
            return BBox(-180.0, min_lat, 180.0, max_lat)
        return BBox(self.lon - dlon, min_lat, self.lon + dlon, max_lat)


@dataclass(frozen=True)
class Selection:
    """What the events are narrowed to; every field is optional and they combine with AND (a list: any of)."""

    incidents: Sequence[str] = ()
    country: str | None = None
    location: str | None = None  # a place or an admin area, by name, case-insensitively
    types: Sequence[str] = ()
    category_types: Sequence[str] = ()  # the types of the asked event categories
    actor: str | None = None  # an actor id the event names, in any role
    source: str | None = None  # the source's name, exactly
    source_kinds: Sequence[str] = ()
    verification: Sequence[str] = ()  # as of `as_of`
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None  # exclusive
    bbox: BBox | None = None
    near: Near | None = None
    text: str | None = None  # web-search syntax
    as_of: datetime | None = None  # recorded time

    def conditions(self) -> list[sql.Composable]:
        """The SQL conditions over event_log of the filters set (none: every event)."""
        found: list[sql.Composable] = []
        if len(self.incidents) == 1:  # `=`, so the (incident_id, occurred_at, ...) index also gives the order
            found.append(sql.SQL("incident_id = %(incident)s"))
        elif self.incidents:
            found.append(sql.SQL("incident_id = ANY(%(incidents)s)"))
        if len(self.types) == 1:  # `=` too: the (country, type, occurred_at, ...) index gives the order
            found.append(sql.SQL("type = %(type)s"))
        elif self.types:
            found.append(sql.SQL("type = ANY(%(types)s)"))
        found += [sql.SQL(condition) for name, condition in _CONDITIONS.items() if getattr(self, name)]
        if self.bbox is not None:
            found.append(_in_box(self.bbox, "bbox"))
        if self.near is not None:
            found.append(_in_box(self.near.box(), "near_box"))
            found.append(sql.SQL(f"{DISTANCE_KM} <= %(near_km)s"))
        return found

    def where(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.conditions() or [sql.SQL("true")])

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            **{name: getattr(self, name) for name in _CONDITIONS},
            "incident": self.incidents[0] if self.incidents else None,
            "incidents": list(self.incidents),
            "type": self.types[0] if self.types else None,
            "types": list(self.types),
            "category_types": list(self.category_types),
            "source_kinds": list(self.source_kinds),
            "verification": list(self.verification),
        }
        if self.bbox is not None:
            params |= _box_params(self.bbox, "bbox")
        if self.near is not None:
            near = self.near
            params |= _box_params(near.box(), "near_box") | {
                "near_lat": near.lat,
                "near_lon": near.lon,
                "near_km": near.radius_km,
            }
        return params


_CONDITIONS: dict[str, str] = {
    "country": "country = %(country)s",
    "location": "(lower(place) = lower(%(location)s) OR lower(admin_area) = lower(%(location)s))",
    "category_types": "type = ANY(%(category_types)s)",
    "actor": "EXISTS (SELECT 1 FROM actor_mentions m WHERE m.event_id = event_log.event_id AND m.actor_id = %(actor)s)",
    "source": "source_name = %(source)s",
    "source_kinds": "source_kind = ANY(%(source_kinds)s)",
    "verification": f"verification_as_of(event_id, {AS_OF}) = ANY(%(verification)s)",
    "occurred_from": "occurred_at >= %(occurred_from)s",
    "occurred_to": "occurred_at < %(occurred_to)s",
    # The event's own strings, or an actor it names whose aliases match (a Cyrillic alias of a Latin name). The
    # aliases' events come as one array, so that both sides are index scans OR'ed into one bitmap: each match's
    # row is read once (an IN over a UNION read every match twice, the second time by its event id).
    "text": f"""(search @@ {TSQUERY} OR event_id = ANY(ARRAY(
        SELECT m.event_id FROM actor_mentions m WHERE m.actor_id IN (
            SELECT a.actor_id FROM actor_mentions a
            WHERE a.aliases <> '{{}}'
                  AND to_tsvector('crisis_search', actor_aliases_text(a.aliases)) @@ {TSQUERY}))))""",
    "as_of": "recorded_at <= %(as_of)s",
}

# Great-circle distance (haversine) from the `near` point, in km; NULL for an event without coordinates.
DISTANCE_KM = f"""(2 * {EARTH_RADIUS_KM} * asin(sqrt(
    sin(radians(lat - %(near_lat)s) / 2) ^ 2
    + cos(radians(%(near_lat)s)) * cos(radians(lat)) * sin(radians(lon - %(near_lon)s) / 2) ^ 2)))"""


def _in_box(box: BBox, name: str) -> sql.Composable:
    lon = "lon BETWEEN %({n}_min_lon)s AND %({n}_max_lon)s"
    if box.min_lon > box.max_lon:
        lon = "(lon >= %({n}_min_lon)s OR lon <= %({n}_max_lon)s)"
    return sql.SQL(("lat BETWEEN %({n}_min_lat)s AND %({n}_max_lat)s AND " + lon).format(n=name))


def _box_params(box: BBox, name: str) -> dict[str, float]:
    return {f"{name}_{side}": getattr(box, side) for side in ("min_lon", "min_lat", "max_lon", "max_lat")}
