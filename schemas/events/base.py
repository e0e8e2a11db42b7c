"""The base class of every event payload."""

from typing import ClassVar

from pydantic import ValidationInfo

from schemas.values import Model

# The validation context of a report being submitted (not of one read back from the stream).
NEW_SUBMISSION = {"new_submission": True}


def is_new_submission(info: ValidationInfo) -> bool:
    """Whether a report is being submitted. A rule added after events were stored checks new reports only, so
    that the stream's events stay readable as they were accepted (a replay must not dead-letter them)."""
    return bool(info.context and info.context.get("new_submission"))


class EventPayload(Model):
    """The type-specific `data` of an event. Subclass names are past-tense facts: `ResultsAnnulled`."""

    schema_version: ClassVar[int] = 1
    # The ACLED event type this payload falls under ("Protests", "Riots", "Violence against civilians",
    # "Strategic developments", ...); None for facts ACLED does not code (statements, corrections, figures).
    acled_event_type: ClassVar[str | None] = None

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__
