"""What every versioned read model row holds, and how a folded answer cites the report behind it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class ReportRow(BaseModel):
    """The current version of one report, with its verification status as of the query."""

    event_id: UUID
    version_of: UUID
    type: str
    payload: dict[str, Any]
    source: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    verification: str


class Cited(BaseModel):
    """A fact in an answer, with the report it comes from."""

    event_id: UUID = Field(description="The report, or the correction that gave its current values.")
    report_id: UUID = Field(description="The original report.")
    when: datetime = Field(description="When it happened.")
    details: dict[str, Any] = Field(description="The report's payload, as in the event contract.")
    source: dict[str, Any]
    verification: str

    @classmethod
    def citing(cls, row: ReportRow) -> dict[str, Any]:
        """The fields of a Cited for `row`, for subclasses to add their own to."""
        return {
            "event_id": row.event_id,
            "report_id": row.version_of,
            "when": row.occurred_at,
            "details": row.payload,
            "source": row.source,
            "verification": row.verification,
        }
