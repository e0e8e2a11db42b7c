"""The HTTP read API, versioned under /v1: incidents, their timelines, single events.

Every answer carries `X-Position`: the stream sequence the read models had applied when it was read. It is read
before the data, so the data reflects at least that position (a reader who wrote at position N and sees
X-Position >= N sees its write). Every endpoint takes `min_position` (or `X-Min-Position`): it then waits, up to
CRISIS_MIN_POSITION_WAIT_S, for the read models to reach it, and answers `X-Stale: true` if they did not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from sse_starlette import EventSourceResponse

from schemas.bounds import Moment
from schemas.values import Slug, VerificationStatus
from services.common.database import DictConnection
from services.common.http import error_body
from services.query import views
from services.query.database import connection
from services.query.freshness import MIN_POSITION_HEADER, BeyondStreamEnd, Freshness, PositionWaiter
from services.query.live import LiveFeed
from services.query.models import ErrorBody, Incident, IncidentPage, StoredEvent, TimelinePage
from services.query.pagination import Cursor, MalformedCursor, next_page
from services.query.params import (
    DEFAULT_LIMIT,
    AsOf,
    EventTypes,
    IncidentId,
    Instant,
    Limit,
    PageCursor,
    SearchText,
    SourceName,
)

K = TypeVar("K")

INCIDENT_CURSOR: Cursor[tuple[str]] = Cursor(tuple[Slug])
TIMELINE_CURSOR: Cursor[tuple[datetime, int]] = Cursor(tuple[Moment, int])

Connection = Annotated[DictConnection, Depends(connection, scope="function")]


MinPosition = Annotated[
    int | None, Query(ge=0, description="Wait (bounded) until the read models reach this stream position.")
]
MinPositionHeader = Annotated[
    int | None, Header(alias=MIN_POSITION_HEADER, ge=0, description="The same as `min_position`, as a header.")
]


async def read_position(
    request: Request,
    response: Response,
    conn: Connection,
    min_position: MinPosition = None,
    x_min_position: MinPositionHeader = None,
) -> Freshness:
    waiter: PositionWaiter = request.app.state.position_waiter
    wanted, loc = (
        (min_position, ["query", "min_position"])
        if min_position is not None
        else (x_min_position, ["header", "X-Min-Position"])
    )
    try:
        freshness = await waiter.reach(conn, wanted)
    except BeyondStreamEnd as exc:
        detail = {"loc": loc, "msg": str(exc), "type": "beyond_stream_end"}
        raise HTTPException(400, detail=error_body(str(exc), [detail])) from exc
    response.headers.update(freshness.headers)
    return freshness


Position = Annotated[Freshness, Depends(read_position)]

# Every read takes min_position (read_position): every one may answer 400 for a position beyond the stream's end.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A min_position beyond the end of the stream."},
    503: {"model": ErrorBody, "description": "PostgreSQL is down or too slow; retry after Retry-After."},
}
router = APIRouter(prefix="/v1", tags=["query"], dependencies=[Depends(read_position)], responses=READ_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed cursor, or a min_position beyond the end of the stream."}
}


def _after(cursor: Cursor[K], value: str | None) -> K | None:
    if value is None:
        return None
    try:
        return cursor.decode(value)
    except MalformedCursor as exc:
        detail = {"loc": ["query", "cursor"], "msg": str(exc), "type": "malformed_cursor"}
        raise HTTPException(400, detail=error_body(str(exc), [detail])) from exc


def _not_found(what: str, freshness: Freshness) -> HTTPException:
    return HTTPException(404, detail=error_body(f"{what} not found"), headers=freshness.headers)


@router.get("/incidents", responses=BAD_CURSOR)
async def list_incidents(
    conn: Connection, as_of: AsOf = None, limit: Limit = DEFAULT_LIMIT, cursor: PageCursor = None
) -> IncidentPage:
    """Every incident, in byte order of its id."""
    after = _after(INCIDENT_CURSOR, cursor)
    rows = await views.incidents(conn, after=after[0] if after else None, limit=limit + 1, as_of=as_of)
    items, next_cursor = next_page(rows, limit, INCIDENT_CURSOR, key=lambda i: (i.incident_id,))
    return IncidentPage(items=items, next_cursor=next_cursor)


@router.get("/incidents/{incident_id}", responses=NOT_FOUND)
async def get_incident(incident_id: IncidentId, conn: Connection, position: Position, as_of: AsOf = None) -> Incident:
    found = await views.incident(conn, incident_id, as_of)
    if found is None:
        raise _not_found(f"incident {incident_id!r}", position)
    return found


@router.get("/incidents/{incident_id}/timeline", responses={**NOT_FOUND, **BAD_CURSOR})
async def incident_timeline(
    incident_id: IncidentId,
    conn: Connection,
    position: Position,
    types: EventTypes = None,
    actor: Annotated[Slug | None, Query(description="Only events that name this actor id.")] = None,
    source: SourceName = None,
    verification: Annotated[
        list[VerificationStatus] | None, Query(description="Only events with these verification statuses.")
    ] = None,
    occurred_from: Annotated[Instant | None, Query(alias="from", description="Occurred at or after.")] = None,
    occurred_to: Annotated[Instant | None, Query(alias="to", description="Occurred before.")] = None,
    q: SearchText = None,
    as_of: AsOf = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
) -> TimelinePage:
    """The incident's events in the order they happened (ties: stream order), optionally filtered by type, actor,
    source, verification status (as of `as_of`), time window, and full-text search over every string."""
    after = _after(TIMELINE_CURSOR, cursor)
    where = views.TimelineFilter(
        types=types or [],
        actor=actor,
        source=source,
        verification=[status.value for status in verification or []],
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        text=q,
        as_of=as_of,
    )
    rows = await views.timeline(conn, incident_id, where=where, after=after, limit=limit + 1)
    if not rows and not await views.incident_exists(conn, incident_id):
        raise _not_found(f"incident {incident_id!r}", position)
    items, next_cursor = next_page(rows, limit, TIMELINE_CURSOR, key=lambda e: (e.occurred_at, e.position))
    return TimelinePage(items=items, next_cursor=next_cursor)


@router.get("/events/{event_id}", responses=NOT_FOUND)
async def get_event(event_id: UUID, conn: Connection, position: Position, as_of: AsOf = None) -> StoredEvent:
    """One event: its envelope as the stream holds it, with its stream position, subject and verification."""
    found = await views.event(conn, event_id, as_of)
    if found is None:
        raise _not_found(f"event '{event_id}'", position)
    return found


LastEventId = Annotated[
    int | None, Header(alias="Last-Event-ID", ge=0, description="Resume after this entry (its stream sequence).")
]


@router.get(
    "/incidents/{incident_id}/live",
    response_class=EventSourceResponse,
    responses={**NOT_FOUND, 200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events."}},
)
async def live_timeline(
    request: Request, incident_id: IncidentId, conn: Connection, position: Position, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """New timeline entries as they are committed, as Server-Sent Events (`event: entry`, `id:` the entry's stream
    sequence, `data:` the entry as in the timeline), in stream order, with heartbeat comments while idle.
    Reconnect with `Last-Event-ID` to get every entry after that one; without it the feed starts after the
    incident's latest entry."""
    if not await views.incident_exists(conn, incident_id):
        raise _not_found(f"incident {incident_id!r}", position)
    live: LiveFeed = request.app.state.live
    after = last_event_id if last_event_id is not None else await views.last_entry(conn, incident_id)
    return live.response(incident_id, after, headers=position.headers)
