"""A submission becomes a stored event: ingest adds the id, when and by whom it was recorded, and the correlation id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from schemas.envelope import Event, EventSubmission, event_class
from schemas.events.base import EventPayload


def record(
    submission: EventSubmission[Any],
    *,
    event_id: UUID,
    recorded_at: datetime,
    recorded_by: str,
    correlation_id: str | None,
) -> Event[Any]:
    payload_class: type[EventPayload] = type(submission.data)
    # Built without validating again (that was as costly as validating the submission): the submission is valid,
    # and what ingest adds is valid by construction: a UUID, an aware "now", a configured token name (a `Name`:
    # services/common/auth.py), and a correlation id checked against the envelope's pattern.
    # The submission's field values, nested models as they are.
    fields = submission.__dict__ | {
        "event_id": event_id,
        "recorded_at": recorded_at,
        "recorded_by": recorded_by,
        "correlation_id": submission.correlation_id or correlation_id,
    }
    return event_class(payload_class).model_construct(**fields)
