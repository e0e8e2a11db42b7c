"""A person's custody status from the detentions and releases reported about them, in the order they happened."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from services.domain.reports import Cited, ReportRow

STATUS_AFTER = {"PersonDetained": "detained", "PrisonerReleased": "released"}


class DetentionRow(ReportRow):
    person_id: str


class CustodyEvent(Cited):
    status: str = Field(description="detained or released")


class Person(BaseModel):
    person: dict[str, Any] = Field(description="The actor as last reported: id, name, kind, role.")
    status: str
    former_role: str | None
    released_by: str | None = Field(description="Who released them (court, authorities, protesters), if released.")
    lawful: bool | None
    history: list[CustodyEvent]


def custody(rows: Iterable[DetentionRow]) -> list[Person]:
    by_person: dict[str, list[DetentionRow]] = {}
    for row in sorted(rows, key=lambda r: (r.occurred_at, r.recorded_at)):
        by_person.setdefault(row.person_id, []).append(row)
    return [_person(history) for _, history in sorted(by_person.items())]


def _person(history: list[DetentionRow]) -> Person:
    last = history[-1]
    released = last.type == "PrisonerReleased"
    return Person(
        person=last.payload["person"],
        status=STATUS_AFTER[last.type],
        former_role=next((r.payload["former_role"] for r in reversed(history) if r.payload.get("former_role")), None),
        released_by=last.payload.get("released_by") if released else None,
        lawful=last.payload.get("lawful") if released else None,
        history=[CustodyEvent(**CustodyEvent.citing(r), status=STATUS_AFTER[r.type]) for r in history],
    )
