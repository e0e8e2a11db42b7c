"""Statements, new bodies, officials leaving (of their own accord or removed) and taking office, emergencies."""

from pydantic import Field

from schemas.bounds import Moment
from schemas.events.base import EventPayload
from schemas.values import ActorRef, Name, Text


class StatementIssued(EventPayload):
    speaker: ActorRef
    quote: Text
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$", description="ISO 639 code.")
    channel: Name | None = Field(default=None, description="The audience or channel, e.g. the news agency.")


class BodyFormed(EventPayload):
    """A new body, e.g. the opposition's coordination council."""

    acled_event_type = "Strategic developments"
    body: ActorRef
    members: list[ActorRef] = Field(default_factory=list, max_length=200)
    purpose: Text | None = None


class OfficialResigned(EventPayload):
    acled_event_type = "Strategic developments"
    person: ActorRef
    office: Name
    reason: Text | None = None


class OfficialRemoved(EventPayload):
    """Dismissed, impeached or ousted by someone else: unlike `OfficialResigned`, not the official's own act."""

    acled_event_type = "Strategic developments"
    person: ActorRef
    office: Name
    removed_by: ActorRef | None = Field(default=None, description="Who removed them: a parliament, a president.")
    means: Name | None = Field(default=None, description="How, as the source says: dismissal, impeachment, ...")
    reason: Text | None = None


class OfficialAppointed(EventPayload):
    acled_event_type = "Strategic developments"
    person: ActorRef
    office: Name
    appointed_by: ActorRef | None = None


class StateOfEmergencyDeclared(EventPayload):
    acled_event_type = "Strategic developments"
    declared_by: ActorRef
    area: Name
    until: Moment | None = None
    measures: list[Text] = Field(default_factory=list, max_length=50)
