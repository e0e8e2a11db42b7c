"""The life of an incident itself."""

from enum import StrEnum

from schemas.events.base import EventPayload
from schemas.values import Name, Text


class IncidentStatus(StrEnum):
    DEVELOPING = "developing"
    ONGOING = "ongoing"
    RESOLVED = "resolved"


class IncidentOpened(EventPayload):
    title: Name
    description: Text | None = None
    status: IncidentStatus = IncidentStatus.DEVELOPING
