"""What every versioned read-model row holds, typed: its payload re-validated into the event's payload class,
through the stream's upcasters when the row was written at an older `schema_version`; and how a folded answer
cites the report behind it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from schemas.catalogue import parse_payload, payload_class
from schemas.events.base import EventPayload

P = TypeVar("P", bound=EventPayload)

# An event type as its payload class, read from its name (a row's `type` column): compared by identity.
EventClass = Annotated[type[EventPayload], BeforeValidator(payload_class)]


class ReportRow(BaseModel, Generic[P]):
    """One version of one report, with its verification status as of the query. Built from a row's columns:
    `type`, `schema_version` and the JSON `payload` become the typed payload."""

    event_id: UUID
    version_of: UUID
    payload: P
    source: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    stream_seq: int
    verification: str

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, row: Any) -> Any:
        if isinstance(row, dict) and isinstance(row.get("payload"), dict):
            payload = parse_payload(row.get("type"), row.get("schema_version", 1), row["payload"])
            return {**row, "payload": payload}
        return row


class Cited(BaseModel):
    """A fact in an answer, with the report it comes from."""

    event_id: UUID = Field(description="The report, or the correction that gave its current values.")
    report_id: UUID = Field(description="The original report.")
    when: datetime = Field(description="When it happened.")
    details: dict[str, Any] = Field(description="The report's payload, as in the event contract.")
    source: dict[str, Any]
    verification: str

    @classmethod
    def citing(cls, row: ReportRow[Any]) -> dict[str, Any]:
        """The fields of a Cited for `row`, for subclasses to add their own to."""
        return {
            "event_id": row.event_id,
            "report_id": row.version_of,
            "when": row.occurred_at,
            "details": row.payload.model_dump(mode="json"),
            "source": row.source,
            "verification": row.verification,
        }
