"""Statements, new bodies, officials leaving (of their own accord or removed) and taking office, emergencies."""

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from schemas.bounds import Moment
from schemas.events.base import EventPayload
from schemas.upcasting import widened
from schemas.values import ActorRef, Name, Text

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]


class StatementIssued(EventPayload):
    """Version 2: actors may be of kind `ngo`, and a quote may be marked as a translation."""

    schema_version = 2
    speaker: ActorRef
    quote: Text
    language: Language | None = Field(default=None, description="ISO 639 code of `quote` as given here.")
    channel: Name | None = Field(default=None, description="The audience or channel, e.g. the news agency.")
    translated_from: Language | None = Field(
        default=None,
        description="Set when `quote` is a translation: the ISO 639 code of the language the speaker used.",
    )
    original_quote: Text | None = Field(
        default=None, description="The speaker's own words, in `translated_from`, when the source gives them."
    )

    @model_validator(mode="after")
    def _an_original_is_in_a_language(self) -> Self:
        if self.original_quote is not None and self.translated_from is None:
            raise ValueError("original_quote needs translated_from: the language the speaker used")
        return self


class BodyFormed(EventPayload):
    """A new body, e.g. the opposition's coordination council."""

    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    body: ActorRef
    members: list[ActorRef] = Field(default_factory=list, max_length=200)
    purpose: Text | None = None


class OfficialResigned(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
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
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    person: ActorRef
    office: Name
    appointed_by: ActorRef | None = None


class StateOfEmergencyDeclared(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    acled_event_type = "Strategic developments"
    declared_by: ActorRef
    area: Name
    until: Moment | None = None
    measures: list[Text] = Field(default_factory=list, max_length=50)


widened(
    "StatementIssued", "BodyFormed", "OfficialResigned", "OfficialAppointed", "StateOfEmergencyDeclared", from_version=1
)  # actors of kind `ngo`
