"""A projection: named handlers, one small function per (event type, read model), dispatched by a registry.

Work that depends on an event and its position alone (its row in a table, say) may be registered as such
(`of_each_event`): it is then done once per message and kept with its position, ahead of time when the prefetcher
can (`work_ahead`, while the batch before waits for PostgreSQL), and the batch handler finds it done.

A handler of every event may instead take the whole batch (`on_every_batch`) and write it set-based, in one
statement rather than one per event. A batch handler that reads stored rows before it writes is an async generator
that yields once, between its reads and its writes: the applier then sends every read model's reads before the
first write (`prepare`), so that in a pipeline no read waits for another read model's writes. A batch handler's
reads see none of the batch's writes (each read model has one batch handler, reading only its own tables).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from schemas.envelope import Event
from schemas.events.base import EventPayload


@dataclass(frozen=True)
class Position:
    """Where an event sits in the stream."""

    seq: int
    subject: str
    # What `of_each_event` functions worked out for the event at this position, by function.
    worked_out: dict[Callable[..., Any], Any] = field(default_factory=dict, compare=False, repr=False)


Handler = Callable[[AsyncConnection[Any], Event[Any], Position], Awaitable[None]]
Batch = Sequence[tuple[Event[Any], Position]]
# Writes the batch; or, as an async generator, reads what it needs, yields once, then writes.
BatchHandler = (
    Callable[[AsyncConnection[Any], Batch], Awaitable[None]]
    | Callable[[AsyncConnection[Any], Batch], AsyncIterator[None]]
)
StagedHandler = Callable[[AsyncConnection[Any], Batch], AsyncIterator[None]]
Write = Callable[[], Awaitable[None]]
T = TypeVar("T")
OfEvent = Callable[[Event[Any], Position], T]


class ReadModel(Protocol):
    """What the applier feeds: a Projection, on its live tables or (by the search path) on a replay's shadow."""

    @property
    def name(self) -> str: ...

    async def prepare(self, conn: AsyncConnection[Any], events: Batch) -> Write: ...

    async def apply(self, conn: AsyncConnection[Any], event: Event[Any], position: Position) -> None: ...


class Projection:
    """A read model fed by its own durable consumer, with its own checkpoint."""

    def __init__(self, name: str, tables: tuple[str, ...], write_only: tuple[str, ...] = ()) -> None:
        """`write_only`: those of its tables its handlers never read (rows only added, found by no key but a unique
        one): a rebuild fills them without their other indexes and builds those once, at the end (shadow.py)."""
        self.name = name
        self.tables = tables  # what a rebuild empties
        self.write_only = write_only
        self._every: list[Handler] = []
        self._every_batch: list[StagedHandler] = []
        self._by_type: dict[str, list[Handler]] = {}
        self._of_each_event: list[OfEvent[Any]] = []

    def on(self, *payloads: type[EventPayload]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for payload in payloads:
                self._by_type.setdefault(payload.event_type(), []).append(handler)
            return handler

        return register

    def on_every_event(self, handler: Handler) -> Handler:
        self._every.append(handler)
        return handler

    def on_every_batch(self, handler: BatchHandler) -> BatchHandler:
        if inspect.isasyncgenfunction(handler):
            self._every_batch.append(cast(StagedHandler, handler))
        else:
            self._every_batch.append(
                _nothing_to_read(cast(Callable[[AsyncConnection[Any], Batch], Awaitable[None]], handler))
            )
        return handler

    def of_each_event(self, work: OfEvent[T]) -> OfEvent[T]:
        """Register work of an event and its position alone; returns it done once per position, for the batch
        handler to call (it finds the work done if `work_ahead` did it)."""

        def once(event: Event[Any], position: Position) -> T:
            worked_out = position.worked_out
            if work not in worked_out:
                worked_out[work] = work(event, position)
            return cast(T, worked_out[work])

        self._of_each_event.append(once)
        return once

    def work_ahead(self, event: Event[Any], position: Position) -> None:
        """Do the work of `of_each_event` for this event now. An event it fails on is left as it was: the batch
        handler tries again as it applies the event, and the applier dead-letters the event if it fails there."""
        for work in self._of_each_event:
            try:
                work(event, position)
            except Exception:  # left as it was: see above
                continue

    async def apply(self, conn: AsyncConnection[Any], event: Event[Any], position: Position) -> None:
        await self.apply_all(conn, [(event, position)])

    async def apply_all(self, conn: AsyncConnection[Any], events: Batch) -> None:
        """Apply events in stream order. The batch handlers write runs of events at once, but before an event's
        own handlers run they have written every event up to it and none after: those handlers (which may read
        what the batch handlers wrote) see exactly what they would see event by event."""
        run: list[tuple[Event[Any], Position]] = []
        for event, position in events:
            run.append((event, position))
            handlers = (*self._every, *self._by_type.get(event.type, ()))
            if handlers:
                await self._write_run(conn, run)
                run = []
                for handler in handlers:
                    await handler(conn, event, position)
        await self._write_run(conn, run)

    async def prepare(self, conn: AsyncConnection[Any], events: Batch) -> Write:
        """Run the reads of applying `events` now and return its writes, to be awaited before any other statement
        of this read model. With handlers per event (which may read what the batch handlers wrote), nothing is
        read ahead: the writes are the whole of apply_all."""
        if self._every or self._by_type or not events:
            return lambda: self.apply_all(conn, events)
        stages = [handler(conn, events) for handler in self._every_batch]
        for stage in stages:
            await anext(stage, None)  # up to its yield: its reads are done

        async def write() -> None:
            for stage in stages:
                async for _ in stage:  # the rest of it: its writes
                    pass

        return write

    async def _write_run(self, conn: AsyncConnection[Any], run: Batch) -> None:
        if run:
            for batch_handler in self._every_batch:
                async for _ in batch_handler(conn, run):
                    pass

    @property
    def durable_name(self) -> str:
        return f"projector-{self.name.replace('_', '-')}"


def _nothing_to_read(handler: Callable[[AsyncConnection[Any], Batch], Awaitable[None]]) -> StagedHandler:
    async def staged(conn: AsyncConnection[Any], events: Batch) -> AsyncIterator[None]:
        yield
        await handler(conn, events)

    return staged


def json_rows(rows: Sequence[Mapping[str, Any] | orjson.Fragment]) -> Jsonb:
    """Rows as one JSON document, for `INSERT ... SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(name type, ...)`:
    orjson encodes a batch's ids, times (with their offsets) and nested JSON (an `orjson.Fragment`) in about a
    sixth of the time psycopg takes to dump the same values as one binary array per column, element by element.
    Read as jsonb, not json: PostgreSQL parses the document once, a nested object going into its jsonb column as
    parsed, where `json_to_recordset` parsed each object's text again (and looked up each row's fields slower):
    2-5 us less of PostgreSQL's CPU an event in a catch-up, of about 85 (docs/performance.md). Sent as orjson's
    bytes: as a str, decoded and encoded again by psycopg, a batch of 1,000 events' rows with some non-ASCII text
    took 2.3 ms more, 25 times the encoding itself."""
    return Jsonb(rows, dumps=orjson.dumps)


def json_row(row: Mapping[str, Any]) -> orjson.Fragment:
    """One row of a `json_rows` document, encoded on its own (to be done ahead of time: see `of_each_event`)."""
    return orjson.Fragment(orjson.dumps(row))


def nested_json(model: BaseModel) -> orjson.Fragment:
    """`model` as pydantic encodes it, nested as it is in a `json_rows` document (what a jsonb column stores)."""
    return orjson.Fragment(model.__pydantic_serializer__.to_json(model))
