"""Elections: held, results announced, annulled."""

from enum import StrEnum

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import Model, Name, Slug, Text


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
    seats: int | None = Field(default=None, ge=0)


class ElectionHeld(EventPayload):
    election_id: Slug
    kind: ElectionKind
    description: Text | None = None


class ResultsAnnounced(EventPayload):
    election_id: Slug
    stage: ResultStage
    announced_by: Name
    results: list[PartyResult] = Field(default_factory=list, max_length=100)
    summary: Text | None = None


class ResultsAnnulled(EventPayload):
    election_id: Slug
    annulled_by: Name
    reason: Text
