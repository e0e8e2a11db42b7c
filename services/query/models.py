"""What the query API answers: response models over the read-model rows."""

from __future__ import annotations

from datetime import date
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from schemas.values import Location, Source, TimePrecision, VerificationStatus
from services.domain.actors import Actor
from services.domain.casualties import CategoryFigures
from services.domain.detentions import Person
from services.domain.elections import Election
from services.domain.incidents import Incident
from services.domain.statements import Speaker
from services.domain.utc import SourceTime, UtcDatetime

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; null on the last page.")


class TimelineEntry(BaseModel):
    position: int = Field(description="The event's stream sequence.")
    event_id: UUID
    type: str
    occurred_at: SourceTime = Field(description="As the source gave it, with its UTC offset.")
    occurred_precision: TimePrecision
    reported_at: SourceTime | None = Field(description="As the source gave it, with its UTC offset.")
    recorded_at: UtcDatetime
    source: Source
    location: Location | None
    data: dict[str, Any] = Field(description="The type-specific payload, as in the event contract.")
    verification: VerificationStatus = Field(description="As of the query's as_of (reported until changed).")

    @computed_field(description="The day it happened where the source said it did (at occurred_at's offset).")
    def occurred_on(self) -> date:
        return self.occurred_at.date()


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
