"""The analysts' filters as query parameters, shared by /v1/events, /v1/trends, /v1/map and the exports: each
refuses a bad value with a 422 that names it and says what is allowed, then they become one `Selection`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from pydantic import AfterValidator, WithJsonSchema

from schemas.catalogue import EVENT_TYPES
from schemas.values import CountryCode, Slug, SourceKind, VerificationStatus
from services.query.dependencies import on_the_loop
from services.query.errors import invalid_parameter
from services.query.params import AsOf, EventTypes, Instant, PlainText, SearchText
from services.query.selection import BBox, Near, Selection

MAX_RADIUS_KM = 1000.0
MAX_INCIDENTS = 100  # a repeatable filter's values, at most

# ACLED's event types, as this project's event categories: each groups the event types that fall under it.
CATEGORIES: dict[str, list[str]] = {}
for _name, _payload in sorted(EVENT_TYPES.items()):
    if _payload.acled_event_type:
        CATEGORIES.setdefault(_payload.acled_event_type, []).append(_name)

_NUMBER = r"\s*[-+]?\d+(?:\.\d+)?\s*"


def _numbers(value: str, count: int, what: str) -> list[float]:
    if not re.fullmatch(",".join([_NUMBER] * count), value):
        raise ValueError(f"want {what}: {count} decimal numbers separated by commas")
    return [float(part) for part in value.split(",")]


def parse_bbox(value: str) -> BBox:
    min_lon, min_lat, max_lon, max_lat = _numbers(value, 4, "minLon,minLat,maxLon,maxLat")
    if not all(-180 <= lon <= 180 for lon in (min_lon, max_lon)) or not all(-90 <= x <= 90 for x in (min_lat, max_lat)):
        raise ValueError("longitudes must be within [-180, 180] and latitudes within [-90, 90]")
    if min_lat > max_lat:
        raise ValueError("minLat must not be above maxLat (minLon above maxLon crosses the antimeridian)")
    return BBox(min_lon, min_lat, max_lon, max_lat)


def parse_near(value: str) -> Near:
    lat, lon, radius_km = _numbers(value, 3, "lat,lon,radius_km")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("lat must be within [-90, 90] and lon within [-180, 180]")
    if not 0 < radius_km <= MAX_RADIUS_KM:
        raise ValueError(f"radius_km must be above 0 and at most {MAX_RADIUS_KM:g}")
    return Near(lat, lon, radius_km)


def _valid(parse: object) -> AfterValidator:
    def check(value: str) -> str:
        parse(value)  # type: ignore[operator]  # raises ValueError naming what is allowed
        return value

    return AfterValidator(check)


def _words(value: str) -> str:
    normalised = " ".join(value.split())
    if not re.search(r"\w", normalised):
        raise ValueError("no word to search for: give at least one letter or digit")
    return normalised


BBoxText = Annotated[str, _valid(parse_bbox), WithJsonSchema({"type": "string", "example": "74.4,42.7,74.8,43.0"})]
NearText = Annotated[str, _valid(parse_near), WithJsonSchema({"type": "string", "example": "42.87,74.6,50"})]


def _known_category(name: str) -> str:
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {name!r}; known: {', '.join(CATEGORIES)}")
    return name


Category = Annotated[str, AfterValidator(_known_category), WithJsonSchema({"type": "string", "enum": list(CATEGORIES)})]


@dataclass
class SelectionQuery:
    """The filters of a cross-incident read; all optional, combined with AND (repeated values: any of)."""

    incident: Annotated[
        list[Slug] | None, Query(max_length=MAX_INCIDENTS, description="Only these incidents (repeatable).")
    ] = None
    country: Annotated[CountryCode | None, Query(description="ISO 3166-1 alpha-2 code of where it happened.")] = None
    location: Annotated[
        PlainText | None,
        Query(max_length=200, description="A place or admin area, by name (case-insensitive, exact)."),
    ] = None
    types: EventTypes = None
    category: Annotated[
        list[Category] | None, Query(description="Only events of these categories (ACLED's event types; repeatable).")
    ] = None
    occurred_from: Annotated[Instant | None, Query(description="Occurred at or after (ISO 8601 with offset).")] = None
    occurred_to: Annotated[Instant | None, Query(description="Occurred before (ISO 8601 with offset).")] = None
    actor: Annotated[Slug | None, Query(description="Only events naming this actor id, in any role.")] = None
    source_kind: Annotated[list[SourceKind] | None, Query(description="Only from these kinds of source.")] = None
    verification: Annotated[
        list[VerificationStatus] | None, Query(description="Only with these verification statuses (as of as_of).")
    ] = None
    bbox: Annotated[
        BBoxText | None,
        Query(max_length=200, description="minLon,minLat,maxLon,maxLat in degrees; minLon > maxLon crosses 180°."),
    ] = None
    near: Annotated[
        NearText | None,
        Query(
            max_length=200,
            description=f"lat,lon,radius_km: within that distance (radius at most {MAX_RADIUS_KM:g} km).",
        ),
    ] = None
    q: Annotated[SearchText, AfterValidator(lambda v: v if v is None else _words(v))] = None
    as_of: AsOf = None

    def selection(self) -> Selection:
        if self.occurred_from and self.occurred_to and self.occurred_from > self.occurred_to:
            raise invalid_parameter("occurred_from", "occurred_from is after occurred_to")
        return Selection(
            incidents=self.incident or [],
            country=self.country,
            location=self.location,
            types=self.types or [],
            category_types=[name for category in self.category or [] for name in CATEGORIES[category]],
            actor=self.actor,
            source_kinds=[kind.value for kind in self.source_kind or []],
            verification=[status.value for status in self.verification or []],
            occurred_from=self.occurred_from,
            occurred_to=self.occurred_to,
            bbox=parse_bbox(self.bbox) if self.bbox else None,
            near=parse_near(self.near) if self.near else None,
            text=self.q,
            as_of=self.as_of,
        )


async def _selection(query: Annotated[SelectionQuery, Depends(on_the_loop(SelectionQuery))]) -> Selection:
    return query.selection()


Selected = Annotated[Selection, Depends(_selection)]
