"""Dispatch by registry: each handler runs for its own event types, the catch-all for every event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.envelope import Event
from schemas.events.elections import ResultsAnnulled
from schemas.events.incidents import IncidentOpened
from services.projector.projection import Position, Projection
from tests.factories import make_event


async def test_handlers_run_for_their_types_only() -> None:
    calls: list[tuple[str, str]] = []
    projection = Projection("demo", tables=())

    @projection.on_every_event
    async def every(conn: Any, event: Event[Any], pos: Position) -> None:
        calls.append(("every", event.type))

    @projection.on(ResultsAnnulled, IncidentOpened)
    async def specific(conn: Any, event: Event[Any], pos: Position) -> None:
        calls.append(("specific", event.type))

    for event_type in ("StatementIssued", "ResultsAnnulled", "IncidentOpened"):
        await projection.apply(None, make_event("x", event_type), Position(seq=1, subject="s"))  # type: ignore[arg-type]

    assert calls == [
        ("every", "StatementIssued"),
        ("every", "ResultsAnnulled"),
        ("specific", "ResultsAnnulled"),
        ("every", "IncidentOpened"),
        ("specific", "IncidentOpened"),
    ]
    assert projection.durable_name == "projector-demo"


async def test_batch_handlers_have_written_every_event_up_to_one_before_its_own_handlers_run() -> None:
    """A handler that reads what a batch handler wrote sees exactly what it would see event by event."""
    calls: list[tuple[str, list[str]]] = []
    projection = Projection("demo", tables=())

    @projection.on_every_batch
    async def write_run(conn: Any, events: Sequence[tuple[Event[Any], Position]]) -> None:
        calls.append(("batch", [event.type for event, _ in events]))

    @projection.on(ResultsAnnulled)
    async def check(conn: Any, event: Event[Any], pos: Position) -> None:
        calls.append(("check", [event.type]))

    types = ("StatementIssued", "IncidentOpened", "ResultsAnnulled", "StatementIssued", "StatementIssued")
    events = [(make_event("x", t), Position(seq=i, subject="s")) for i, t in enumerate(types, start=1)]
    await projection.apply_all(None, events)  # type: ignore[arg-type]

    assert calls == [
        ("batch", ["StatementIssued", "IncidentOpened", "ResultsAnnulled"]),
        ("check", ["ResultsAnnulled"]),
        ("batch", ["StatementIssued", "StatementIssued"]),
    ]
