"""The HTTP read API, versioned under /v1: incidents, their timelines, single events.

Every answer carries `X-Position`: the stream sequence the read models had applied when it was read. It is read
before the data, so the data reflects at least that position (a reader who wrote at position N and sees
X-Position >= N sees its write). Every endpoint takes `min_position` (or `X-Min-Position`): it then waits, up to
CRISIS_MIN_POSITION_WAIT_S, for the read models to reach it, and answers `X-Stale: true` if they did not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from sse_starlette import EventSourceResponse

from schemas.bounds import Moment
from schemas.values import Slug, VerificationStatus
from services.domain.incidents import Incident
from services.query import event_log_views, incident_views
from services.query.dependencies import POSITIONED, Connection, Live, Position, QuerySettings, Read
from services.query.errors import BAD_CURSOR, NOT_FOUND, after_cursor, not_found
from services.query.models import IncidentPage, StoredEvent, TimelinePage
from services.query.pagination import Cursor, next_page, page_json
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
from services.query.selection import Selection

INCIDENT_CURSOR: Cursor[tuple[str]] = Cursor(tuple[Slug])
TIMELINE_CURSOR: Cursor[tuple[datetime, int]] = Cursor(tuple[Moment, int])

router = APIRouter()


@router.get("/incidents", responses=BAD_CURSOR, dependencies=POSITIONED)
async def list_incidents(
    conn: Connection, as_of: AsOf = None, limit: Limit = DEFAULT_LIMIT, cursor: PageCursor = None
) -> IncidentPage:
    """Every incident, in byte order of its id."""
    after = after_cursor(INCIDENT_CURSOR, cursor)
    rows = await incident_views.incidents(conn, after=after[0] if after else None, limit=limit + 1, as_of=as_of)
    items, next_cursor = next_page(rows, limit, INCIDENT_CURSOR, key=lambda i: (i.incident_id,))
    return IncidentPage(items=items, next_cursor=next_cursor)


@router.get("/incidents/{incident_id}", responses=NOT_FOUND)
async def get_incident(incident_id: IncidentId, conn: Connection, position: Position, as_of: AsOf = None) -> Incident:
    found = await incident_views.incident(conn, incident_id, as_of)
    if found is None:
        raise not_found(f"incident {incident_id!r}", position)
    return found


@router.get("/incidents/{incident_id}/timeline", responses={**NOT_FOUND, **BAD_CURSOR}, response_model=TimelinePage)
async def incident_timeline(
    incident_id: IncidentId,
    read: Read,
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
) -> Response:
    """The incident's events in the order they happened (ties: stream order), optionally filtered by type, actor,
    source, verification status (as of `as_of`), time window, and full-text search over every string."""
    after = after_cursor(TIMELINE_CURSOR, cursor)
    where = Selection(
        incidents=[incident_id],
        types=types or [],
        actor=actor,
        source=source,
        verification=[status.value for status in verification or []],
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        text=q,
        as_of=as_of,
    )
    async with read.read_models.connection() as conn:
        position, entries = await event_log_views.timeline(conn, where, after=after, limit=limit + 1)
        freshness = read.freshness(position)
        if not entries and not await incident_views.incident_exists(conn, incident_id):
            raise not_found(f"incident {incident_id!r}", freshness)
    # PostgreSQL wrote the entries as TimelinePage documents them: sent as they are, not validated again.
    body = page_json(entries, limit, TIMELINE_CURSOR, key=_timeline_key)
    return Response(body, media_type="application/json", headers=freshness.headers)


def _timeline_key(entry: dict[str, Any]) -> tuple[datetime, int]:
    return datetime.fromisoformat(entry["occurred_at"]), entry["position"]


@router.get("/events/{event_id}", responses=NOT_FOUND)
async def get_event(event_id: UUID, conn: Connection, position: Position, as_of: AsOf = None) -> StoredEvent:
    """One event: its envelope as the stream holds it, with its stream position, subject and verification."""
    found = await event_log_views.event(conn, event_id, as_of)
    if found is None:
        raise not_found(f"event '{event_id}'", position)
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
    incident_id: IncidentId,
    conn: Connection,
    position: Position,
    live: Live,
    settings: QuerySettings,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """New timeline entries as they are committed, as Server-Sent Events (`event: entry`, `id:` the entry's stream
    sequence, `data:` the entry as in the timeline), in stream order, with heartbeat comments while idle.
    Reconnect with `Last-Event-ID` to get every entry after that one; without it the feed starts after the
    incident's latest entry."""
    if not await incident_views.incident_exists(conn, incident_id):
        raise not_found(f"incident {incident_id!r}", position)
    after = last_event_id if last_event_id is not None else await event_log_views.last_entry(conn, incident_id)
    return live.response(incident_id, after, position.headers, settings.live_heartbeat_s)
