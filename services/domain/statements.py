"""Statements and observers' findings grouped by who said them, in the order they were made."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from services.domain.reports import Cited, ReportRow

SPEAKER_FIELD = {"StatementIssued": "speaker", "ObserverFindingsPublished": "observer"}


class StatementRow(ReportRow):
    speaker_id: str


class Said(Cited):
    type: str = Field(description="StatementIssued or ObserverFindingsPublished.")


class Speaker(BaseModel):
    speaker: dict[str, Any] = Field(description="The actor as last reported: id, name, kind, role.")
    statements: list[Said]


def by_speaker(rows: Iterable[StatementRow]) -> list[Speaker]:
    grouped: dict[str, list[StatementRow]] = {}
    for row in sorted(rows, key=lambda r: (r.occurred_at, r.recorded_at)):
        grouped.setdefault(row.speaker_id, []).append(row)
    return [
        Speaker(
            speaker=said[-1].payload[SPEAKER_FIELD[said[-1].type]],
            statements=[Said(**Said.citing(r), type=r.type) for r in said],
        )
        for _, said in sorted(grouped.items())
    ]
