"""Security forces and communications in a crisis: deployments (foreign or allied troops too) and shutdowns of the
internet or phone networks, as ACLED and Access Now's #KeepItOn tracker code them."""

from enum import StrEnum

from pydantic import Field

from schemas.bounds import Moment
from schemas.events.base import EventPayload
from schemas.values import ActorRef, CountryCode, Name, Quantity, Text


class SecurityForcesDeployed(EventPayload):
    """Police, army or foreign troops sent somewhere; where is the event's `location`, when its `occurred_at`."""

    acled_event_type = "Strategic developments"  # ACLED sub-type "Change to group/activity"
    force: ActorRef = Field(description="The force deployed, e.g. the army, a special police unit, CSTO troops.")
    country_of_origin: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2 code of the country the force comes from, when foreign."
    )
    deployed_by: ActorRef | None = Field(default=None, description="Who ordered the deployment.")
    mandate: Text | None = Field(default=None, description="What the force is there to do, as the source says.")
    area: Name | None = Field(default=None, description="The area covered, when wider than the event's location.")
    strength: Quantity | None = Field(default=None, description="How many, as reported (e.g. 'about 1,000').")
    until: Moment | None = Field(default=None, description="When the deployment is to end, if announced.")


class ShutdownScope(StrEnum):
    NATIONAL = "national"
    REGIONAL = "regional"


class ShutdownKind(StrEnum):
    SHUTDOWN = "shutdown"  # the service is cut
    THROTTLING = "throttling"  # the service is slowed until it is barely usable


class CommunicationsService(StrEnum):
    INTERNET = "internet"
    MOBILE_DATA = "mobile_data"
    MOBILE_CALLS = "mobile_calls"
    SMS = "sms"
    SOCIAL_MEDIA = "social_media"
    MESSAGING = "messaging"


class CommunicationsShutdown(EventPayload):
    """Internet or phone services cut or throttled; `occurred_at` is when the source says it was reported."""

    acled_event_type = "Strategic developments"
    kind: ShutdownKind
    scope: ShutdownScope
    area: Name | None = Field(default=None, description="The region affected, for a regional shutdown.")
    services: list[CommunicationsService] = Field(min_length=1, max_length=10)
    platforms: list[Name] = Field(
        default_factory=list, max_length=50, description="Named platforms blocked, e.g. Facebook, WhatsApp."
    )
    start: Moment
    end: Moment | None = Field(default=None, description="Null while it lasts, or when unknown.")
    ordered_by: ActorRef | None = None
    description: Text | None = None
