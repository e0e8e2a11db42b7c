"""Elections: held, results announced, annulled or certified."""

from enum import StrEnum

from pydantic import Field

from schemas.bounds import Count
from schemas.events.base import EventPayload
from schemas.upcasting import widened
from schemas.values import ActorRef, Model, Name, Slug, Text


class ElectionKind(StrEnum):
    PARLIAMENTARY = "parliamentary"
    PRESIDENTIAL = "presidential"
    LOCAL = "local"
    REFERENDUM = "referendum"


class ResultStage(StrEnum):
    PRELIMINARY = "preliminary"
    FINAL = "final"


class PartyResult(Model):
    party: Name
    share_percent: float | None = Field(default=None, ge=0, le=100)
    seats: Count | None = None


class ElectionHeld(EventPayload):
    acled_event_type = "Strategic developments"
    election_id: Slug
    kind: ElectionKind
    description: Text | None = None


class ResultsAnnounced(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    election_id: Slug
    stage: ResultStage
    announced_by: ActorRef
    results: list[PartyResult] = Field(default_factory=list, max_length=100)
    summary: Text | None = None


class ResultsAnnulled(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    election_id: Slug
    annulled_by: ActorRef
    reason: Text


class ResultsCertified(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    election_id: Slug
    certified_by: ActorRef
    summary: Text | None = None


widened("ResultsAnnounced", "ResultsAnnulled", "ResultsCertified", from_version=1)  # actors of kind `ngo`
