"""Statements and observers' findings grouped by who said them, in the order they were made."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, Field

SPEAKER_FIELD = {"StatementIssued": "speaker", "ObserverFindingsPublished": "observer"}


class StatementLike(Protocol):
    event_id: UUID
    version_of: UUID
    type: str
    speaker_id: str
    payload: dict[str, Any]
    source: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    verification: str


class Said(BaseModel):
    type: str = Field(description="StatementIssued or ObserverFindingsPublished.")
    event_id: UUID
    report_id: UUID
    when: datetime
    details: dict[str, Any] = Field(description="The payload: quote, language, channel; or findings.")
    source: dict[str, Any]
    verification: str


class Speaker(BaseModel):
    speaker: dict[str, Any] = Field(description="The actor as last reported: id, name, kind, role.")
    statements: list[Said]


def by_speaker(rows: Iterable[StatementLike]) -> list[Speaker]:
    grouped: dict[str, list[StatementLike]] = {}
    for row in sorted(rows, key=lambda r: (r.occurred_at, r.recorded_at)):
        grouped.setdefault(row.speaker_id, []).append(row)
    return [
        Speaker(
            speaker=said[-1].payload[SPEAKER_FIELD[said[-1].type]],
            statements=[
                Said(
                    type=r.type,
                    event_id=r.event_id,
                    report_id=r.version_of,
                    when=r.occurred_at,
                    details=r.payload,
                    source=r.source,
                    verification=r.verification,
                )
                for r in said
            ],
        )
        for _, said in sorted(grouped.items())
    ]
