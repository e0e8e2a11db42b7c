"""The event log as ingest sees it: a Protocol, so routes can run on the NATS log or on an in-memory one in tests.

What every implementation promises (tests/eventlog_contract.py holds both to it):
- events are stored in order, each at a stream position (`seq`) that a reader can wait for;
- an event id that is stored already is not stored again: the writer gets the stored position, `duplicate: true`,
  if it is the same event from the same writer, else `EventIdTaken`;
- with an expected position, the first event is stored only if its incident is still there, else `IncidentMoved`
  (a retry of a stored conditional write is a duplicate, not a conflict);
- a log that cannot answer raises `Unavailable` (503, retry later).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel

from schemas.envelope import Event


class Published(BaseModel):
    """Where an event landed: `seq` is its stream sequence, which a reader can wait for (read-your-writes)."""

    event_id: UUID
    seq: int
    duplicate: bool
    subject: str


class EventLog(Protocol):
    async def start(self) -> None:
        """Begin connecting; a log that is down at start is not an error (requests get 503 until it is up)."""

    async def stop(self) -> None: ...

    async def check(self) -> None:
        """Raise `Unavailable` unless a publish could be attempted now (the readiness check)."""

    async def publish(self, events: Sequence[Event[Any]], expected_position: int | None = None) -> list[Published]:
        """Store `events` in order; results in the same order. `expected_position` concerns the first event's
        incident. Raises IncidentMoved, EventIdTaken or Unavailable."""
