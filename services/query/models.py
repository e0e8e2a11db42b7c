"""What the query API answers: response models over the read-model rows."""

from __future__ import annotations

from datetime import date
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from schemas.values import Location, Source, TimePrecision, VerificationStatus
from services.domain.actors import Actor
from services.domain.casualties import CategoryFigures, Count
from services.domain.casualty_trends import TrendFigure
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


class NamedActor(BaseModel):
    id: str
    name: str
    kind: str
    role: str | None
    field: str = Field(description="Where the event names the actor, e.g. speaker, members.0.")


class HitFigure(BaseModel):
    category: str
    group: str = Field(description="Whom the figure counts: total, civilians, protesters, ...")
    count: Count = Field(description="The report's current figure (corrections applied, as of as_of).")
    corrected: bool


class EventHit(TimelineEntry):
    incident_id: str
    actors: list[NamedActor] = Field(default_factory=list, description="Every actor the event names, in any role.")
    casualties: list[HitFigure] = Field(
        default_factory=list, description="A casualty report's figures; empty for other events."
    )
    rank: float | None = Field(description="Relevance to `q` (PostgreSQL ts_rank); null without q.")
    snippet: str | None = Field(description="The event's text around the matches, matches in <b></b>; null without q.")
    distance_km: float | None = Field(description="From the `near` point; null without near.")


class EventHitPage(Page[EventHit]):
    relevance_capped: bool = Field(
        default=False,
        description="Sorted by relevance, q matched 1,000 events or more, and only the first 1,000 in the stream "
        "were ranked: narrow the filters, or sort by occurred_at to page through every match.",
    )


class TrendPoint(BaseModel):
    start: UtcDatetime = Field(description="The bucket's first instant (UTC).")
    events: int
    casualties: list[TrendFigure]


class TrendSeries(BaseModel):
    group: str | None = Field(description="The type, country or incident; null when ungrouped (or no country).")
    points: list[TrendPoint]


class Trends(BaseModel):
    interval: str
    group_by: str | None
    as_of: UtcDatetime | None
    series: list[TrendSeries]
