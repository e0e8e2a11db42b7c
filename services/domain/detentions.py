"""A person's custody status from the detentions and releases reported about them, in the order they happened."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from schemas.events.detentions import PersonDetained, PrisonerReleased, ReleasedBy
from schemas.values import ActorRef
from services.domain.reports import Cited, ReportRow, current_versions

STATUS_AFTER: dict[type[PersonDetained | PrisonerReleased], str] = {
    PersonDetained: "detained",
    PrisonerReleased: "released",
}


class DetentionRow(ReportRow[PersonDetained | PrisonerReleased]):
    person_id: str


class CustodyEvent(Cited):
    status: str = Field(description="detained or released")


class Person(BaseModel):
    person: ActorRef = Field(description="The actor as last reported: id, name, kind, role.")
    status: str
    former_role: str | None
    released_by: ReleasedBy | None = Field(
        description="Who released them (court, authorities, protesters), if released."
    )
    lawful: bool | None
    history: list[CustodyEvent]


def custody(rows: Iterable[DetentionRow]) -> list[Person]:
    by_person: dict[str, list[DetentionRow]] = {}
    for row in sorted(current_versions(rows), key=lambda r: (r.occurred_at, r.recorded_at)):
        by_person.setdefault(row.person_id, []).append(row)
    return [_person(history) for _, history in sorted(by_person.items())]


def _person(history: list[DetentionRow]) -> Person:
    last = history[-1].payload
    released = last if isinstance(last, PrisonerReleased) else None
    return Person(
        person=last.person,
        status=STATUS_AFTER[type(last)],
        former_role=next((r.payload.former_role for r in reversed(history) if r.payload.former_role), None),
        released_by=released.released_by if released else None,
        lawful=released.lawful if released else None,
        history=[CustodyEvent(**CustodyEvent.citing(r), status=STATUS_AFTER[type(r.payload)]) for r in history],
    )
