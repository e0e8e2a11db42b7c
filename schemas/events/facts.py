"""The life of a fact: corrected, retracted, verified, linked to others as cause and effect.

Each names the event it is about by id; that event must exist and belong to the same incident, or the read
models refuse it into the dead letters with the reason.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from schemas.events.base import EventPayload
from schemas.values import Text, VerificationStatus


class ReportCorrected(EventPayload):
    """The corrected event's payload, replaced as a whole by `replacement` from this event's recorded time on."""

    corrects: UUID = Field(description="The event_id of the event this corrects.")
    corrected_type: str = Field(description="The type of the corrected event, e.g. CasualtiesReported.")
    replacement: dict[str, Any] = Field(
        description="The corrected payload, whole: a valid `data` of `corrected_type`, checked by ingest. A subscriber "
        "validates it by `corrected_type`: with the `data` property of events/<corrected_type>.v<n>.json, where n is "
        "that type's schema_version when the correction was recorded (the current one, in the AsyncAPI message's "
        "`x-schema-version`)."
    )
    reason: Text

    @field_validator("corrected_type")
    @classmethod
    def _is_a_known_type(cls, name: str) -> str:
        from schemas.catalogue import payload_class  # the catalogue imports this module

        return payload_class(name).event_type()

    @field_validator("replacement")
    @classmethod
    def _fits_the_corrected_type(cls, replacement: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from schemas.catalogue import payload_class

        name = info.data.get("corrected_type")
        if name is None:
            return replacement  # corrected_type is invalid, and already reported
        try:
            payload_class(name).model_validate(replacement, context=info.context)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(whole)'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"not a valid {name} payload: {problems}") from None
        return replacement


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
