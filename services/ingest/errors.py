"""Why the event log refused a write, in the writer's terms: the adapters raise these, the routes map them to HTTP.

Neither knows about HTTP, so the same errors come from the NATS event log and from the in-memory one in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from services.ingest.eventlog import Published


class IncidentMoved(Exception):
    """The incident is no longer at the position the writer expected: nothing was published."""

    def __init__(self, incident_id: str, expected: int, current: int) -> None:
        super().__init__(f"incident {incident_id!r} is at position {current}, not {expected}")
        self.incident_id = incident_id
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class TakenId:
    """An event of the request whose id already names a stored event that is not this one."""

    index: int  # in the request's events
    event_id: UUID
    reason: str


class EventIdTaken(Exception):
    """Some ids name other events already (another writer's, or another body): those events were not stored.

    `published` holds where every other event of the request landed: they are stored (or were already).
    """

    def __init__(self, taken: Sequence[TakenId], published: Sequence[Published]) -> None:
        super().__init__("; ".join(f"{t.event_id}: {t.reason}" for t in taken))
        self.taken = list(taken)
        self.published = list(published)


def refuse_taken(taken: Sequence[TakenId], results: Sequence[Published]) -> None:
    """EventIdTaken if any id of the request is taken, with where every other event of the request landed."""
    if taken:
        indexes = {t.index for t in taken}
        raise EventIdTaken(taken, [r for i, r in enumerate(results) if i not in indexes])
