"""Detentions and releases."""

from enum import StrEnum

from schemas.events.base import EventPayload
from schemas.upcasting import widened
from schemas.values import ActorRef, Name, Text


class ReleasedBy(StrEnum):
    COURT = "court"
    AUTHORITIES = "authorities"
    PROTESTERS = "protesters"
    OTHER = "other"


class PersonDetained(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"  # ACLED sub-type "Arrests"
    person: ActorRef
    detained_by: ActorRef | None = None
    former_role: Name | None = None
    reason: Text | None = None


class PrisonerReleased(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    person: ActorRef
    former_role: Name | None = None
    released_by: ReleasedBy
    lawful: bool | None = None
    description: Text | None = None


widened("PersonDetained", "PrisonerReleased", from_version=1)  # actors of kind `ngo`
