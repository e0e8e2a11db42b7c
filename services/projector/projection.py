"""A projection: named handlers, one small function per (event type, read model), dispatched by a registry.

A handler of every event may instead take the whole batch (`on_every_batch`) and write it set-based, in one
statement rather than one per event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.base import EventPayload


@dataclass(frozen=True)
class Position:
    """Where an event sits in the stream."""

    seq: int
    subject: str


Handler = Callable[[AsyncConnection[Any], Event[Any], Position], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection[Any], Sequence[tuple[Event[Any], Position]]], Awaitable[None]]


class Projection:
    """A read model fed by its own durable consumer, with its own checkpoint."""

    def __init__(self, name: str, tables: tuple[str, ...]) -> None:
        self.name = name
        self.tables = tables  # what a rebuild empties
        self._every: list[Handler] = []
        self._every_batch: list[BatchHandler] = []
        self._by_type: dict[str, list[Handler]] = {}

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
        self._every_batch.append(handler)
        return handler

    async def apply(self, conn: AsyncConnection[Any], event: Event[Any], position: Position) -> None:
        await self.apply_all(conn, [(event, position)])

    async def apply_all(self, conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
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

    async def _write_run(self, conn: AsyncConnection[Any], run: Sequence[tuple[Event[Any], Position]]) -> None:
        if run:
            for batch_handler in self._every_batch:
                await batch_handler(conn, run)

    @property
    def durable_name(self) -> str:
        return f"projector-{self.name.replace('_', '-')}"


def columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column: the arrays of an `INSERT ... SELECT FROM unnest(...)`."""
    return [list(column) for column in zip(*rows, strict=True)]
