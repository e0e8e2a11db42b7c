"""An in-memory event log with the NATS log's promises (services/ingest/eventlog.py), for tests that need no server.

It dedupes by event id (forever: it has no duplicate window), checks the expected position per incident, and
refuses an id stored already as another event with the same rule as the NATS log (services/ingest/ownership.py).
tests/eventlog_contract.py runs the same tests on it and on a real nats-server, so it cannot drift from NATS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from schemas.envelope import Event
from schemas.subjects import event_subject
from services.common.http import Unavailable
from services.ingest.errors import IncidentMoved, TakenId, refuse_taken
from services.ingest.eventlog import Published
from services.ingest.ownership import taken_because, writer_body
from services.ingest.publisher import message_headers


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    subject: str
    event: Event[Any]
    headers: dict[str, str]


class InMemoryEventLog:
    def __init__(self) -> None:
        self.stored: list[StoredEvent] = []
        self.available = True  # False: every call answers Unavailable, as a NATS log that is down

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def check(self) -> None:
        if not self.available:
            raise Unavailable("the in-memory event log is switched off")

    async def publish(self, events: Sequence[Event[Any]], expected_position: int | None = None) -> list[Published]:
        await self.check()
        results: list[Published] = []
        taken: list[TakenId] = []
        for index, event in enumerate(events):
            stored = self._by_id(event.event_id)
            if stored is not None:  # dedupe before the position check, as JetStream does
                results.append(
                    Published(event_id=event.event_id, seq=stored.seq, duplicate=True, subject=stored.subject)
                )
                if (reason := taken_because(event, stored.headers)) is not None:
                    taken.append(TakenId(index, event.event_id, reason))
                continue
            if index == 0 and expected_position is not None:
                current = self.position(event.incident_id)
                if current != expected_position:
                    raise IncidentMoved(event.incident_id, expected_position, current)
            results.append(self._append(event))
        refuse_taken(taken, results)
        return results

    def position(self, incident_id: str) -> int:
        return max((s.seq for s in self.stored if s.event.incident_id == incident_id), default=0)

    def _by_id(self, event_id: UUID) -> StoredEvent | None:
        return next((s for s in self.stored if s.event.event_id == event_id), None)

    def _append(self, event: Event[Any]) -> Published:
        stored = StoredEvent(
            seq=len(self.stored) + 1,
            subject=event_subject(event.incident_id, event.type),
            event=event,
            headers=message_headers(event, writer_body(event)),
        )
        self.stored.append(stored)
        return Published(event_id=event.event_id, seq=stored.seq, duplicate=False, subject=stored.subject)
