"""What the query API answers: response models over the read-model rows."""

from __future__ import annotations

from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.values import Location, Source, TimePrecision, VerificationStatus
from services.domain.actors import Actor
from services.domain.casualties import CategoryFigures
from services.domain.detentions import Person
from services.domain.elections import Election
from services.domain.incidents import Incident
from services.domain.statements import Speaker
from services.domain.utc import UtcDatetime

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; null on the last page.")


class TimelineEntry(BaseModel):
    position: int = Field(description="The event's stream sequence.")
    event_id: UUID
    type: str
    occurred_at: UtcDatetime
    occurred_precision: TimePrecision
    reported_at: UtcDatetime | None
    recorded_at: UtcDatetime
    source: Source
    location: Location | None
    data: dict[str, Any] = Field(description="The type-specific payload, as in the event contract.")
    verification: VerificationStatus = Field(description="As of the query's as_of (reported until changed).")


class StoredEvent(BaseModel):
    position: int = Field(description="The event's stream sequence.")
    subject: str
    event: dict[str, Any] = Field(description="The event envelope exactly as the stream holds it.")
    verification: VerificationStatus = Field(description="As of the query's as_of (reported until changed).")


IncidentPage = Page[Incident]
TimelinePage = Page[TimelineEntry]


class Casualties(BaseModel):
    incident_id: str
    as_of: UtcDatetime | None = Field(description="The recorded time asked for; null: now.")
    categories: list[CategoryFigures]


ElectionPage = Page[Election]
DetentionPage = Page[Person]
SpeakerPage = Page[Speaker]
ActorPage = Page[Actor]
