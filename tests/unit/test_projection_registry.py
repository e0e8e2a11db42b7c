"""Dispatch by registry: each handler runs for its own event types, the catch-all for every event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

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


def staged_projection(name: str, calls: list[str]) -> Projection:
    """A read model whose batch handler reads, yields, then writes, and one that only writes."""
    projection = Projection(name, tables=())

    @projection.on_every_batch
    async def read_then_write(conn: Any, events: Sequence[tuple[Event[Any], Position]]) -> AsyncIterator[None]:
        calls.append(f"{name} reads {len(events)}")
        yield
        calls.append(f"{name} writes {len(events)}")

    @projection.on_every_batch
    async def only_write(conn: Any, events: Sequence[tuple[Event[Any], Position]]) -> None:
        calls.append(f"{name} only writes {len(events)}")

    return projection


async def test_prepare_runs_every_read_now_and_returns_the_writes() -> None:
    calls: list[str] = []
    first, second = staged_projection("a", calls), staged_projection("b", calls)
    events = [(make_event("x", "StatementIssued"), Position(seq=i, subject="s")) for i in (1, 2)]

    writes = [await first.prepare(None, events), await second.prepare(None, events[1:])]  # type: ignore[arg-type]
    assert calls == ["a reads 2", "b reads 1"]
    for write in writes:
        await write()

    assert calls == ["a reads 2", "b reads 1", "a writes 2", "a only writes 2", "b writes 1", "b only writes 1"]


async def test_apply_all_reads_then_writes_each_handler_in_turn() -> None:
    calls: list[str] = []
    events = [(make_event("x", "StatementIssued"), Position(seq=1, subject="s"))]

    await staged_projection("a", calls).apply_all(None, events)  # type: ignore[arg-type]

    assert calls == ["a reads 1", "a writes 1", "a only writes 1"]


async def test_prepare_reads_nothing_ahead_for_a_read_model_with_handlers_per_event() -> None:
    """Those handlers may read what the batch handlers wrote: the whole batch is applied when the writes run."""
    calls: list[str] = []
    projection = staged_projection("a", calls)

    @projection.on(ResultsAnnulled)
    async def check(conn: Any, event: Event[Any], pos: Position) -> None:
        calls.append("check")

    events = [
        (make_event("x", t), Position(seq=i, subject="s")) for i, t in enumerate(("ResultsAnnulled", "StatementIssued"))
    ]
    write = await projection.prepare(None, events)  # type: ignore[arg-type]
    assert calls == []
    await write()

    assert calls == [
        "a reads 1",
        "a writes 1",
        "a only writes 1",
        "check",
        "a reads 1",
        "a writes 1",
        "a only writes 1",
    ]


def test_work_of_each_event_is_done_once_per_position_ahead_or_when_applied() -> None:
    done: list[int] = []
    projection = Projection("a", tables=())

    @projection.of_each_event
    def row(event: Event[Any], pos: Position) -> str:
        done.append(pos.seq)
        return f"row {pos.seq}"

    event = make_event("x", "StatementIssued")
    ahead, later = Position(seq=1, subject="s"), Position(seq=2, subject="s")
    projection.work_ahead(event, ahead)
    assert done == [1]

    assert (row(event, ahead), row(event, later), row(event, later)) == ("row 1", "row 2", "row 2")
    assert done == [1, 2]  # found done ahead for the first, done once when applied for the second


def test_work_that_fails_ahead_is_left_to_fail_when_the_event_is_applied() -> None:
    """The applier dead-letters an event its read model cannot apply: failing ahead of time must not hide that."""
    projection = Projection("a", tables=())

    @projection.of_each_event
    def row(event: Event[Any], pos: Position) -> str:
        raise ValueError("no row for this one")

    event, pos = make_event("x", "StatementIssued"), Position(seq=1, subject="s")
    projection.work_ahead(event, pos)  # does not raise

    with pytest.raises(ValueError, match="no row for this one"):
        row(event, pos)
