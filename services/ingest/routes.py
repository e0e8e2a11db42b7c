"""The write API: one event or a batch, validated, recorded and published; 202 with where each one landed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel

from schemas.envelope import Event, EventSubmission
from services.common.settings import Settings
from services.ingest.auth import TokenName
from services.ingest.bodies import idempotency_key, parse_batch, parse_event, request_correlation_id
from services.ingest.eventlog import EventLog
from services.ingest.identity import event_id_for
from services.ingest.publisher import Published
from services.ingest.recording import record

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["events"])


class BatchPublished(BaseModel):
    results: list[Published]


def _record_all(
    request: Request, submissions: Sequence[EventSubmission[Any]], token_name: str, batch: bool
) -> list[Event[Any]]:
    key = idempotency_key(request)
    # The request's correlation id is only needed (and so only checked) for events that bring none of their own.
    fallback = request_correlation_id(request) if any(s.correlation_id is None for s in submissions) else None
    now = datetime.now(UTC)
    return [
        record(
            submission,
            event_id=event_id_for(submission.event_id, token_name, key, index if batch else None),
            recorded_at=now,
            recorded_by=token_name,
            correlation_id=fallback,
        )
        for index, submission in enumerate(submissions)
    ]


async def _publish(request: Request, events: list[Event[Any]]) -> list[Published]:
    event_log: EventLog = request.app.state.event_log
    results = await event_log.publish(events)
    log.info(
        "events accepted",
        count=len(results),
        duplicates=sum(r.duplicate for r in results),
        correlation_id=request.state.correlation_id,
    )
    return results


@router.post("/events", status_code=202, response_model=Published)
async def post_event(request: Request, token_name: TokenName) -> Published:
    """One event (see the JSON Schemas in schemas/). An Idempotency-Key header makes a retry safe."""
    events = _record_all(request, [parse_event(await request.body())], token_name, batch=False)
    [result] = await _publish(request, events)
    return result


@router.post("/events/batch", status_code=202, response_model=BatchPublished)
async def post_batch(request: Request, token_name: TokenName) -> BatchPublished:
    """`{"events": [...]}`: all valid and published, or none published (422); results in the batch's order."""
    settings: Settings = request.app.state.settings
    submissions = parse_batch(await request.body(), settings.max_batch)
    events = _record_all(request, submissions, token_name, batch=True)
    return BatchPublished(results=await _publish(request, events))
