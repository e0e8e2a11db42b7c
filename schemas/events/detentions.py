"""Detentions and releases."""

from enum import StrEnum

from schemas.events.base import EventPayload
from schemas.values import Name, Text


class ReleasedBy(StrEnum):
    COURT = "court"
    AUTHORITIES = "authorities"
    PROTESTERS = "protesters"
    OTHER = "other"


class PrisonerReleased(EventPayload):
    person: Name
    former_role: Name | None = None
    released_by: ReleasedBy
    lawful: bool | None = None
    description: Text | None = None
