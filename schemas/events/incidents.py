"""The life of an incident itself: opened, updated, merged into another (duplicates happen)."""

from enum import StrEnum

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import Name, Slug, Text


class IncidentStatus(StrEnum):
    DEVELOPING = "developing"
    ONGOING = "ongoing"
    RESOLVED = "resolved"


class IncidentOpened(EventPayload):
    title: Name
    description: Text | None = None
    status: IncidentStatus = IncidentStatus.DEVELOPING


class IncidentUpdated(EventPayload):
    """Only the fields given change."""

    title: Name | None = None
    description: Text | None = None
    status: IncidentStatus | None = None


class IncidentMerged(EventPayload):
    """This incident duplicates another: readers should follow `into`."""

    into: Slug = Field(description="The incident this one is merged into.")
    reason: Text | None = None
