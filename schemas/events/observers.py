"""Findings of observers: election monitors, human-rights missions."""

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.upcasting import widened
from schemas.values import ActorRef, Text


class ObserverFindingsPublished(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    observer: ActorRef
    findings: list[Text] = Field(min_length=1, max_length=50)
    quote: Text | None = Field(default=None, description="The observers' own words, verbatim.")


widened("ObserverFindingsPublished", from_version=1)  # actors of kind `ngo`
