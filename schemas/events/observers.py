"""Findings of observers: election monitors, human-rights missions."""

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import ActorRef, Text


class ObserverFindingsPublished(EventPayload):
    observer: ActorRef
    findings: list[Text] = Field(min_length=1, max_length=50)
    quote: Text | None = Field(default=None, description="The observers' own words, verbatim.")
