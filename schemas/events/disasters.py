"""Natural and technological disasters: the hazard itself (its effects are casualties, damage, statements)."""

from enum import StrEnum

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import Text


class Hazard(StrEnum):
    EARTHQUAKE = "earthquake"
    FLOOD = "flood"
    LANDSLIDE = "landslide"
    STORM = "storm"
    WILDFIRE = "wildfire"
    INDUSTRIAL_ACCIDENT = "industrial_accident"
    OTHER = "other"


class DisasterStruck(EventPayload):
    hazard: Hazard
    magnitude: float | None = Field(default=None, description="On the hazard's usual scale, e.g. moment magnitude.")
    description: Text | None = None
