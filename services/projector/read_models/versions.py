"""Versioned read models: a report and each correction of it are row sets of their own, never overwritten.

A read model registers one writer per payload type; `Versions` runs it for the original events (version_of =
their own id) and again, with the replacement payload, for every `ReportCorrected` of that type (version_of = the
corrected report). Views pick the latest version recorded by `as_of`. A correction naming an event this read
model does not hold, one of another incident, or one of another type raises `UnknownTarget`: the applier
dead-letters it with that reason and no row is written.

Originals are written set-based: a writer gets every original of its types in a run of the batch, and writes
them with one statement. A correction is a handler of its own event, so the originals before it in the stream
are written by the time it looks its target up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql

from schemas.catalogue import payload_class
from schemas.envelope import Event
from schemas.events.base import EventPayload
from schemas.events.facts import ReportCorrected
from services.projector.projection import Position, Projection, columns


@dataclass(frozen=True)
class Version:
    """One version of a report: its values, carried by `event` (the report itself, or a correction of it)."""

    event: Event[Any]
    values: Any
    version_of: UUID  # the id of the original report
    pos: Position  # where `event` sits in the stream


# Writes these versions, all of payload types the writer was registered for, in stream order.
Writer = Callable[[AsyncConnection[Any], Sequence[Version]], Awaitable[None]]


class UnknownTarget(ValueError):
    """A correction, retraction, verification change or link names an event it cannot apply to."""


def check_target(found: tuple[str, str] | None, target: UUID, event: Event[Any], expected_type: str | None) -> None:
    """`found` is the target's (incident_id, type) as a read model holds it, or None when it holds no such event."""
    if found is None:
        raise UnknownTarget(f"{event.type} names event {target}, which does not exist")
    incident_id, type_ = found
    if incident_id != event.incident_id:
        raise UnknownTarget(f"{event.type} names event {target} of incident {incident_id!r}, not {event.incident_id!r}")
    if expected_type is not None and type_ != expected_type:
        raise UnknownTarget(f"{event.type} says event {target} is a {expected_type}, but it is a {type_}")


class Versions:
    def __init__(self, projection: Projection, table: str) -> None:
        self._table = table
        self._writers: dict[type[EventPayload], Writer] = {}
        projection.on_every_batch(self._write_originals)
        projection.on(ReportCorrected)(self._apply_correction)

    def writer(self, *payloads: type[EventPayload]) -> Callable[[Writer], Writer]:
        def register(write: Writer) -> Writer:
            for payload in payloads:
                self._writers[payload] = write
            return write

        return register

    async def _write_originals(self, conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
        by_writer: dict[Writer, list[Version]] = {}
        for event, pos in events:
            write = self._writers.get(type(event.data))
            if write is not None:
                by_writer.setdefault(write, []).append(Version(event, event.data, event.event_id, pos))
        for write, originals in by_writer.items():
            await write(conn, originals)

    async def _apply_correction(self, conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
        correction: ReportCorrected = event.data
        corrected = payload_class(correction.corrected_type)
        write = self._writers.get(corrected)
        if write is None:
            return  # a correction of a type this read model does not hold
        cur = await conn.execute(
            sql.SQL("SELECT incident_id, type, version_of FROM {} WHERE event_id = %s LIMIT 1").format(
                sql.Identifier(self._table)
            ),
            (correction.corrects,),
        )
        row = await cur.fetchone()
        found = None if row is None else (row["incident_id"], row["type"])
        check_target(found, correction.corrects, event, correction.corrected_type)
        assert row is not None
        values = corrected.model_validate(correction.replacement)
        # A correction of a correction is a version of the original.
        await write(conn, [Version(event, values, row["version_of"], pos)])


async def insert_payload_rows(
    conn: AsyncConnection[Any], table: str, key_column: str, versions: Sequence[Version], key: Callable[[Any], str]
) -> None:
    """Rows of a table shaped (event_id, version_of, incident_id, type, schema_version, <key column>, payload,
    source, times), one per version, in one statement: the payload with the version of its shape, which readers
    upcast from. JSON is sent as text encoded by pydantic, the arrays binary (no per-row parameter adaptation)."""
    rows = [
        (
            v.event.event_id,
            v.version_of,
            v.event.incident_id,
            type(v.values).event_type(),
            type(v.values).schema_version,
            key(v.values),
            v.values.model_dump_json(),
            v.event.source.model_dump_json(),
            v.event.occurred_at,
            v.event.recorded_at,
            v.pos.seq,
        )
        for v in versions
    ]
    await conn.execute(
        sql.SQL(
            """
            INSERT INTO {table} (event_id, version_of, incident_id, type, schema_version, {column}, payload, source,
                                 occurred_at, recorded_at, stream_seq)
            SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::int[], %b::text[],
                                 %b::text[]::jsonb[], %b::text[]::jsonb[], %b::timestamptz[], %b::timestamptz[],
                                 %b::bigint[])
            ON CONFLICT (event_id) DO NOTHING
            """
        ).format(table=sql.Identifier(table), column=sql.Identifier(key_column)),
        columns(rows),
    )
