"""Protests and the force used against them."""

from enum import StrEnum

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import Name, Quantity, Text


class ProtestSubType(StrEnum):
    PEACEFUL = "peaceful_protest"
    WITH_INTERVENTION = "protest_with_intervention"
    EXCESSIVE_FORCE = "excessive_force_against_protesters"
    VIOLENT_DEMONSTRATION = "violent_demonstration"
    MOB_VIOLENCE = "mob_violence"


class DispersalMeans(StrEnum):
    TEARGAS = "teargas"
    WATER_CANNON = "water_cannon"
    STUN_GRENADES = "stun_grenades"
    RUBBER_BULLETS = "rubber_bullets"
    LIVE_FIRE = "live_fire"
    BATONS = "batons"
    ARRESTS = "arrests"
    OTHER = "other"


class ProtestReported(EventPayload):
    acled_event_type = "Protests"
    sub_type: ProtestSubType
    size: Quantity | None = None
    organisers: list[Name] = Field(default_factory=list, max_length=50)
    demands: list[Text] = Field(default_factory=list, max_length=50)
    description: Text | None = None


class CrowdDispersed(EventPayload):
    acled_event_type = "Protests"
    dispersed_by: Name
    means: list[DispersalMeans] = Field(min_length=1, max_length=10)
    description: Text | None = None


class BuildingStormed(EventPayload):
    acled_event_type = "Riots"
    building: Name
    stormed_by: Name
    occupied: bool = False
    description: Text | None = None


class PropertyDestroyed(EventPayload):
    acled_event_type = "Strategic developments"
    property: Name
    destroyed_by: Name
    arson: bool = False
    description: Text | None = None
