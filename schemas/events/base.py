"""The base class of every event payload."""

from typing import ClassVar

from schemas.values import Model


class EventPayload(Model):
    """The type-specific `data` of an event. Subclass names are past-tense facts: `ResultsAnnulled`."""

    schema_version: ClassVar[int] = 1
    # The ACLED event type this payload falls under ("Protests", "Riots", "Violence against civilians",
    # "Strategic developments", ...); None for facts ACLED does not code (statements, corrections, figures).
    acled_event_type: ClassVar[str | None] = None

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__
