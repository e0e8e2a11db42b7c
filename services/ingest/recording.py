"""A submission becomes a stored event: ingest adds the id, when and by whom it was recorded, and the correlation id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, overload
from uuid import UUID

from schemas.envelope import Event, EventSubmission, event_class
from schemas.events.base import EventPayload

Recorder = Callable[[int, EventSubmission[Any]], Event[Any]]  # (index in the request, submission) -> stored event


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


class Recorded(Sequence[Event[Any]]):
    """A request's valid submissions as stored events, each recorded when first read.

    The publisher reads them as it sends (publisher.py), so recording a batch, about a tenth of its CPU, overlaps
    nats-server storing the first events instead of delaying the first send. Recording cannot fail: the request is
    all or nothing still, decided before (every submission valid, every header checked)."""

    def __init__(self, submissions: Sequence[EventSubmission[Any]], recorder: Recorder) -> None:
        self._submissions = submissions
        self._recorder = recorder
        self._events: list[Event[Any] | None] = [None] * len(submissions)

    def __len__(self) -> int:
        return len(self._submissions)

    @overload
    def __getitem__(self, index: int) -> Event[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event[Any]]: ...

    def __getitem__(self, index: int | slice) -> Event[Any] | list[Event[Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        event = self._events[index]  # IndexError past the end, which ends an iteration
        if event is None:
            position = index % len(self)  # the recorder is told the event's position in the request
            event = self._events[position] = self._recorder(position, self._submissions[position])
        return event
