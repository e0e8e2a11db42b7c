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
        """Apply events in stream order: the batch handlers once for all of them, then each event's handlers."""
        if not events:
            return
        for batch_handler in self._every_batch:
            await batch_handler(conn, events)
        for event, position in events:
            for handler in (*self._every, *self._by_type.get(event.type, ())):
                await handler(conn, event, position)

    @property
    def durable_name(self) -> str:
        return f"projector-{self.name.replace('_', '-')}"
