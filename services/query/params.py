"""Request parameters shared by the routes: path ids, list paging, the event type filter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, WithJsonSchema

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
AsOf = Annotated[
    AwareDatetime | None,
    Query(description="Recorded time (ISO 8601 with offset): answer as the system knew it then. Default: now."),
]
