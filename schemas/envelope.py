"""The envelope every event carries, generic over its typed payload.

`EventSubmission` is what a reporter sends; `Event` is what the stream holds (the submission plus the fields only
ingest may set). Both are parametrised by a payload class: `Event[ResultsAnnulled]`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from pydantic import Field, model_validator

from schemas.bounds import MAX_COUNT, Moment
from schemas.events.base import EventPayload
from schemas.values import Location, Model, Name, Slug, Source, TimePrecision

P = TypeVar("P", bound=EventPayload)

CorrelationId = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")


class _EnvelopeFields(Model, Generic[P]):
    type: str = Field(description="The event type, the payload's class name, e.g. ResultsAnnulled.")
    schema_version: int = Field(default=1, ge=1, le=MAX_COUNT)
    incident_id: Slug
    occurred_at: Moment
    occurred_precision: TimePrecision = TimePrecision.MINUTE
    reported_at: Moment | None = Field(default=None, description="When the source reported it.")
    source: Source
    location: Location | None = None
    correlation_id: str | None = CorrelationId
    causation_id: UUID | None = Field(default=None, description="The event that caused this one.")
    data: P

    @model_validator(mode="after")
    def _type_names_the_payload(self) -> Self:
        payload_type = type(self.data).event_type()
        if self.type != payload_type:
            raise ValueError(f"type {self.type!r} does not match the payload {payload_type!r}")
        if self.schema_version != type(self.data).schema_version:
            raise ValueError(f"schema_version {self.schema_version} is not the current version of {self.type}")
        return self


class EventSubmission(_EnvelopeFields[P], Generic[P]):
    """A report as a client submits it. The event id is optional: ingest makes one when missing."""

    event_id: UUID | None = None


class Event(_EnvelopeFields[P], Generic[P]):
    """An event as the stream holds it."""

    event_id: UUID
    recorded_at: Moment = Field(description="When ingest accepted it; never set by a client.")
    recorded_by: Name | None = Field(default=None, description="The API token that recorded it.")


# pydantic keeps `Event[X]` in a weak cache only: once nothing else holds the class, a garbage collection drops it
# and the next `Event[X]` builds it again (about one request in three under load: 11% of ingest's CPU). These hold
# every parametrised envelope for the life of the process; there is one per event type.


@cache
def submission_class(payload: type[EventPayload]) -> type[EventSubmission[Any]]:
    """`EventSubmission[payload]`, built once."""
    return EventSubmission[payload]  # type: ignore[valid-type]


@cache
def event_class(payload: type[EventPayload]) -> type[Event[Any]]:
    """`Event[payload]`, built once."""
    return Event[payload]  # type: ignore[valid-type]
