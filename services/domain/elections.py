"""An election's state from the events reported about it: held -> announced -> annulled or certified.

Events are taken in the order they happened (then recorded). A step the state machine does not allow (results
certified after an annulment, say) is not dropped: sources contradict each other, so it is kept as a conflict
beside the state the allowed steps lead to.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from schemas.events.elections import ElectionHeld, ResultsAnnounced, ResultsAnnulled, ResultsCertified
from schemas.values import ActorRef
from services.domain.reports import Cited, ReportRow, current_versions

ElectionEvent = ElectionHeld | ResultsAnnounced | ResultsAnnulled | ResultsCertified

STATE_AFTER: dict[type[ElectionEvent], str] = {
    ElectionHeld: "held",
    ResultsAnnounced: "announced",
    ResultsAnnulled: "annulled",
    ResultsCertified: "certified",
}
# The states each state may move to (announced -> announced: preliminary, then final results).
ALLOWED: dict[str | None, set[str]] = {
    None: {"held", "announced", "annulled", "certified"},  # reports may start anywhere: the vote went unreported
    "held": {"announced", "annulled"},
    "announced": {"announced", "annulled", "certified"},
    "annulled": set(),
    "certified": {"annulled"},  # a court may annul certified results
}


class ElectionRow(ReportRow[ElectionEvent]):
    election_id: str


class Step(Cited):
    state: str
    by: ActorRef | None = Field(description="Who: the actor that announced, annulled or certified.")
    why: str | None = Field(description="The reason given, e.g. for an annulment.")


class Election(BaseModel):
    election_id: str
    kind: str | None
    state: str | None
    steps: list[Step] = Field(description="The allowed steps, in the order they happened.")
    conflicts: list[Step] = Field(description="Reported steps the state machine does not allow from where it was.")


def elections(rows: Iterable[ElectionRow]) -> list[Election]:
    """Election events recorded by the query's `as_of`: their current versions that count, folded per election."""
    by_election: dict[str, list[ElectionRow]] = {}
    for row in sorted(current_versions(rows), key=lambda r: (r.occurred_at, r.recorded_at)):
        by_election.setdefault(row.election_id, []).append(row)
    return [fold(election_id, history) for election_id, history in sorted(by_election.items())]


def fold(election_id: str, history: list[ElectionRow]) -> Election:
    state: str | None = None
    kind = None
    steps: list[Step] = []
    conflicts: list[Step] = []
    for row in history:
        step = _step(row)
        if isinstance(row.payload, ElectionHeld):
            kind = row.payload.kind.value
        if step.state in ALLOWED[state]:
            state = step.state
            steps.append(step)
        else:
            conflicts.append(step)
    return Election(election_id=election_id, kind=kind, state=state, steps=steps, conflicts=conflicts)


def _by(event: ElectionEvent) -> ActorRef | None:
    match event:
        case ResultsAnnounced():
            return event.announced_by
        case ResultsAnnulled():
            return event.annulled_by
        case ResultsCertified():
            return event.certified_by
    return None


def _step(row: ElectionRow) -> Step:
    return Step(
        **Step.citing(row),
        state=STATE_AFTER[type(row.payload)],
        by=_by(row.payload),
        why=row.payload.reason if isinstance(row.payload, ResultsAnnulled) else None,
    )
