"""The envelope every event carries, generic over its typed payload.

`EventSubmission` is what a reporter sends; `Event` is what the stream holds (the submission plus the fields only
ingest may set). Both are parametrised by a payload class: `Event[ResultsAnnulled]`.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Generic, Self, TypeVar
from uuid import UUID

from pydantic import Field, model_validator

from schemas.bounds import MAX_COUNT, Moment
from schemas.events.base import EventPayload
from schemas.values import Location, Model, Name, Slug, Source, TimePrecision

P = TypeVar("P", bound=EventPayload)

# What a writer may send beside a single event: the position it expects the incident at (optimistic concurrency).
EXPECTED_POSITION_FIELD = "expected_position"
# A position is a stream sequence: NATS holds it as uint64, PostgreSQL as bigint.
MAX_POSITION = 2**63 - 1
Position = Annotated[int, Field(ge=0, le=MAX_POSITION)]

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

    @model_validator(mode="before")
    @classmethod
    def _current_version_when_left_out(cls, raw: Any) -> Any:
        """Left out, `schema_version` is the type's current version: a writer sends only that one, and code builds
        current events. (`parse_event` labels a stored event without one as version 1, then upcasts it.)"""
        if isinstance(raw, dict) and "schema_version" not in raw:  # first: every decoded event passes here
            payload = cls.model_fields["data"].annotation  # a lookup that cost a tenth of decoding an event
            if isinstance(payload, type):
                return {**raw, "schema_version": getattr(payload, "schema_version", 1)}
        return raw

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
