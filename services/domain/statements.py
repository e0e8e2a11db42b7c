"""Statements and observers' findings grouped by who said them, in the order they were made."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from schemas.events.observers import ObserverFindingsPublished
from schemas.events.political import StatementIssued
from schemas.values import ActorRef
from services.domain.reports import Cited, ReportRow, current_versions


class StatementRow(ReportRow[StatementIssued | ObserverFindingsPublished]):
    speaker_id: str


class Said(Cited):
    type: str = Field(description="StatementIssued or ObserverFindingsPublished.")


class Speaker(BaseModel):
    speaker: ActorRef = Field(description="The actor as last reported: id, name, kind, role.")
    statements: list[Said]


def _speaker(said: StatementIssued | ObserverFindingsPublished) -> ActorRef:
    return said.speaker if isinstance(said, StatementIssued) else said.observer


def by_speaker(rows: Iterable[StatementRow]) -> list[Speaker]:
    grouped: dict[str, list[StatementRow]] = {}
    for row in sorted(current_versions(rows), key=lambda r: (r.occurred_at, r.recorded_at)):
        grouped.setdefault(row.speaker_id, []).append(row)
    return [
        Speaker(
            speaker=_speaker(said[-1].payload),
            statements=[Said(**Said.citing(r), type=r.payload.event_type()) for r in said],
        )
        for _, said in sorted(grouped.items())
    ]
