"""The life of a fact: corrected, retracted, verified, linked to others as cause and effect.

Each names the event it is about by id; that event must exist and belong to the same incident, or the read
models refuse it into the dead letters with the reason.
"""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from pydantic import Field, model_validator

from schemas.events.base import EventPayload
from schemas.values import Text, VerificationStatus


class ReportCorrected(EventPayload):
    """The corrected event's payload, replaced as a whole by `replacement` from this event's recorded time on."""

    corrects: UUID = Field(description="The event_id of the event this corrects.")
    corrected_type: str = Field(description="The type of the corrected event, e.g. CasualtiesReported.")
    replacement: dict[str, Any] = Field(description="The corrected payload: a valid `data` of `corrected_type`.")
    reason: Text

    @model_validator(mode="after")
    def _replacement_fits_the_corrected_type(self) -> Self:
        from schemas.catalogue import payload_class  # the catalogue imports this module

        payload_class(self.corrected_type).model_validate(self.replacement)
        return self


class ReportRetracted(EventPayload):
    retracts: UUID = Field(description="The event_id of the event the source withdraws.")
    reason: Text


class VerificationChanged(EventPayload):
    event: UUID = Field(description="The event_id whose verification status changes.")
    status: VerificationStatus
    reason: Text | None = None


class EventsLinked(EventPayload):
    cause: UUID = Field(description="The event_id of the cause.")
    effect: UUID = Field(description="The event_id of the effect.")
    explanation: Text | None = None
