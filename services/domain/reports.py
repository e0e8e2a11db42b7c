"""Reports and their versions: what every versioned read-model row holds, typed (its payload re-validated into
the event's payload class, through the stream's upcasters when the row was written at an older
`schema_version`); which version of a report is current; and how a folded answer cites the report behind it.

The views select candidate rows (every version recorded by the query's `as_of`); the rules here decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import Annotated, Any, Generic, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from schemas.catalogue import parse_payload, payload_class
from schemas.events.base import EventPayload
from schemas.values import VerificationStatus
from services.domain.utc import GivenOffsets

P = TypeVar("P", bound=EventPayload)

# An event type as its payload class, read from its name (a row's `type` column): compared by identity.
EventClass = Annotated[type[EventPayload], BeforeValidator(payload_class)]


class ReportRow(GivenOffsets, Generic[P]):
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
    occurred_offset_min: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, row: Any) -> Any:
        if isinstance(row, dict) and isinstance(row.get("payload"), dict):
            payload = parse_payload(row.get("type"), row.get("schema_version", 1), row["payload"])
            return {**row, "payload": payload}
        return row


def stands(verification: str) -> bool:
    """Whether a report with this verification status counts: a retracted one never does."""
    return verification != VerificationStatus.RETRACTED


class Versioned(Protocol):
    """A row of one version of a report: the original (version_of = its event id) or a correction of it."""

    @property
    def version_of(self) -> UUID: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def stream_seq(self) -> int: ...
    @property
    def verification(self) -> str: ...


V = TypeVar("V", bound=Versioned)

# The order versions were recorded in (a sort key; attrgetter: a lambda per row cost more than the sort).
RECORDED = attrgetter("recorded_at", "stream_seq")


def latest_versions(rows: Iterable[V]) -> dict[UUID, V]:
    """Each report's current version: of the versions given (those recorded by the query's `as_of`), the one
    recorded last. A correction replaces the whole report."""
    latest: dict[UUID, V] = {}
    for row in sorted(rows, key=RECORDED):
        latest[row.version_of] = row
    return latest


def current_versions(rows: Iterable[V]) -> list[V]:
    """The current version of each report that still counts (not retracted)."""
    return [row for row in latest_versions(rows).values() if stands(row.verification)]


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
