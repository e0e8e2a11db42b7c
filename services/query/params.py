"""Request parameters shared by the routes: path ids, list paging, the event type filter, times, text.

Each one refuses, with a 422 naming it, what PostgreSQL or Python cannot take: a time outside the contract's
window (a year-1 `as_of` overflowed), a NUL character (PostgreSQL text cannot hold one), a search with more
negations in a row than PostgreSQL's query parser can stack.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from schemas.bounds import Moment
from schemas.catalogue import EVENT_TYPES, payload_class
from schemas.values import Slug

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _known_event_type(name: str) -> str:
    return payload_class(name).event_type()  # raises UnknownEventType (a ValueError) naming the known types


IncidentId = Annotated[Slug, Path(description="The incident's slug, e.g. kg-2020-election.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
PageCursor = Annotated[str | None, Query(description="The next_cursor of the previous page.")]
EventTypeName = Annotated[
    str,
    AfterValidator(_known_event_type),
    WithJsonSchema({"type": "string", "enum": sorted(EVENT_TYPES)}),
]
EventTypes = Annotated[
    list[EventTypeName] | None, Query(alias="type", description="Only events of these types (repeatable).")
]


def _iso_8601(value: object) -> object:
    # pydantic would read a bare number as a Unix timestamp; the documented format is an ISO 8601 date-time.
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError("want an ISO 8601 date-time with an offset, e.g. 2020-10-06T09:00:00+06:00")
    return value


Instant = Annotated[Moment, BeforeValidator(_iso_8601)]
AsOf = Annotated[
    Instant | None,
    Query(description="Recorded time (ISO 8601 with offset): answer as the system knew it then. Default: now."),
]

# websearch_to_tsquery fails ("tsquery stack too small") past 32 negations with no word between them.
MAX_NEGATIONS_IN_A_ROW = 16
_NEGATIONS = re.compile(rf"(?:-\s*){{{MAX_NEGATIONS_IN_A_ROW + 1},}}")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError(f"NUL character at position {value.index(chr(0))}: PostgreSQL text cannot hold it")
    return value


def _searchable(value: str) -> str:
    if _NEGATIONS.search(value):
        raise ValueError(f"more than {MAX_NEGATIONS_IN_A_ROW} '-' (NOT) in a row")
    return value


PlainText = Annotated[str, AfterValidator(_no_nul)]
SourceName = Annotated[
    PlainText | None, Query(max_length=200, description="Only events from this source (its name, exactly).")
]
SearchText = Annotated[
    Annotated[PlainText, AfterValidator(_searchable)] | None,
    Query(min_length=1, max_length=200, description="Full-text search (web-search syntax)."),
]
