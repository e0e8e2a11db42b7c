"""The write API: one event or a batch, validated, recorded and published; 202 with where each one landed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from schemas.envelope import Event, EventSubmission
from services.common.bearer import Credentials, bearer
from services.common.http import error_body
from services.common.settings import Settings
from services.ingest.bodies import (
    IDEMPOTENCY_HEADER,
    idempotency_key,
    parse_batch,
    parse_event,
    read_body,
    request_correlation_id,
)
from services.ingest.clock import latest_allowed
from services.ingest.concurrency import expected_position, incident_moved, single_incident
from services.ingest.errors import EventIdTaken, IncidentMoved
from services.ingest.eventlog import EventLog, Published
from services.ingest.identity import event_id_for
from services.ingest.openapi import BATCH_BODY, ONE_EVENT_BODY, WRITE_RESPONSES
from services.ingest.ratelimit import rate_limited_writer
from services.ingest.recording import Recorded, record

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["events"])


class BatchPublished(BaseModel):
    results: list[Published]


def _record_all(
    request: Request, submissions: Sequence[EventSubmission[Any]], token_name: str, batch: bool, now: datetime
) -> Recorded:
    """The stored events, each recorded as the publisher reads it; what can refuse the request is checked here."""
    key = idempotency_key(request)
    secret: bytes = request.app.state.event_id_secret
    # The request's correlation id is only needed (and so only checked) for events that bring none of their own.
    fallback = request_correlation_id(request) if any(s.correlation_id is None for s in submissions) else None

    def recorded(index: int, submission: EventSubmission[Any]) -> Event[Any]:
        return record(
            submission,
            event_id=event_id_for(submission.event_id, secret, token_name, key, index if batch else None),
            recorded_at=now,
            recorded_by=token_name,
            correlation_id=fallback,
        )

    return Recorded(submissions, recorded)


async def _publish(
    request: Request,
    submissions: Sequence[EventSubmission[Any]],
    events: Sequence[Event[Any]],
    expected: int | None,
    batch: bool,
) -> list[Published]:
    event_log: EventLog = request.app.state.event_log
    try:
        results = await event_log.publish(events, expected)
    except IncidentMoved as moved:
        raise incident_moved(moved) from moved
    except EventIdTaken as taken:
        log.warning("event ids refused", ids=[str(t.event_id) for t in taken.taken], token=events[0].recorded_by)
        raise _ids_taken(taken, submissions, batch) from taken
    if log.is_enabled_for(logging.INFO):  # asked first: a line dropped by the level still cost 2% of a single event
        log.info(
            "events accepted",
            count=len(results),
            duplicates=sum(r.duplicate for r in results),
            correlation_id=request.state.correlation_id,
        )
    return results


def _ids_taken(taken: EventIdTaken, submissions: Sequence[EventSubmission[Any]], batch: bool) -> HTTPException:
    """409 naming where each taken id came from (the body's event_id, or the Idempotency-Key it was derived from)."""
    details = []
    for t in taken.taken:
        where: list[str | int] = ["body", "events", t.index] if batch else ["body"]
        loc = [*where, "event_id"] if submissions[t.index].event_id is not None else ["header", IDEMPOTENCY_HEADER]
        which = f"event {t.index} of the batch, " if batch else ""  # a header is the batch's: say which event
        details.append({"loc": loc, "msg": f"{which}{t.event_id}: {t.reason}", "type": "event_id_taken"})
    stored = f"; the other {len(taken.published)} events are stored" if taken.published else ""
    return HTTPException(
        409,
        detail=error_body(
            f"{len(details)} event id(s) name other events already: those were not stored{stored}", details
        )
        | {"results": [r.model_dump(mode="json") for r in taken.published]},
    )


EVENTS_PATH = "/events"


@router.post(
    EVENTS_PATH, status_code=202, response_model=Published, responses=WRITE_RESPONSES, openapi_extra=ONE_EVENT_BODY
)
async def post_event(request: Request, credentials: Credentials) -> Response:
    """One event (see the JSON Schemas in schemas/). An Idempotency-Key header makes a retry safe; If-Match (or
    `expected_position`) makes the write conditional on the incident's position."""
    return await accept_event(request, credentials)


async def post_event_directly(request: Request) -> Response:
    """`post_event` as the app answers it directly (direct_route.py): the bearer credentials read here, not by
    FastAPI."""
    return await accept_event(request, await bearer(request))


async def accept_event(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Response:
    token = await rate_limited_writer(request, credentials)
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    raw = await read_body(request, settings)
    submission, from_body = parse_event(raw, latest_allowed(now, settings.clock_skew_s))
    expected = expected_position(request, from_body)
    events = _record_all(request, [submission], token.name, batch=False, now=now)
    [result] = await _publish(request, [submission], events, expected, batch=False)
    # What FastAPI answers for the `response_model`, without validating the model it already is again.
    return Response(result.__pydantic_serializer__.to_json(result), status_code=202, media_type="application/json")


@router.post(
    "/events/batch",
    status_code=202,
    response_model=BatchPublished,
    responses=WRITE_RESPONSES,
    openapi_extra=BATCH_BODY,
)
async def post_batch(request: Request, credentials: Credentials) -> BatchPublished:
    """`{"events": [...]}`: all valid and published, or none published (422); results in the batch's order.

    With an expectation (If-Match or `expected_position`), every event must concern one incident; the first is
    published only if the incident is still at that position (else 409, nothing published), the rest follow it."""
    token = await rate_limited_writer(request, credentials)
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    raw = await read_body(request, settings)
    submissions, from_body = parse_batch(raw, settings.max_batch, latest_allowed(now, settings.clock_skew_s))
    expected = expected_position(request, from_body)
    if expected is not None:
        single_incident([s.incident_id for s in submissions])
    events = _record_all(request, submissions, token.name, batch=True, now=now)
    return BatchPublished(results=await _publish(request, submissions, events, expected, batch=True))
