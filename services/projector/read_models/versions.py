"""Versioned read models: a report and each correction of it are row sets of their own, never overwritten.

A read model registers one writer per payload type; `Versions` runs it for the original events (version_of =
their own id) and again, with the replacement payload, for every `ReportCorrected` of that type (version_of = the
corrected report). Views pick the latest version recorded by `as_of`. A correction naming an event this read
model does not hold, one of another incident, or one of another type raises `UnknownTarget`: the applier
dead-letters it with that reason and no row is written.

A batch is written set-based: a writer gets every version of its types in the batch, originals and corrections,
and writes them with one statement. The targets of the batch's corrections are read with one SELECT before the
batch is written; a target earlier in the batch is known from the batch itself, and one later in it is not yet
held: exactly as if the events were applied one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql

from schemas.catalogue import payload_class
from schemas.envelope import Event
from schemas.events.base import EventPayload
from schemas.events.facts import ReportCorrected
from services.domain.utc import offset_minutes
from services.projector.projection import Position, Projection, json_rows, nested_json


@dataclass(frozen=True)
class Version:
    """One version of a report: its values, carried by `event` (the report itself, or a correction of it)."""

    event: Event[Any]
    values: Any
    version_of: UUID  # the id of the original report
    pos: Position  # where `event` sits in the stream


@dataclass(frozen=True)
class _Held:
    """What a correction needs of the version it corrects."""

    incident_id: str
    type: str  # the payload type of the version
    version_of: UUID


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
        projection.on_every_batch(self._write_run)

    def writer(self, *payloads: type[EventPayload]) -> Callable[[Writer], Writer]:
        def register(write: Writer) -> Writer:
            for payload in payloads:
                self._writers[payload] = write
            return write

        return register

    async def _write_run(
        self, conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]
    ) -> AsyncIterator[None]:
        """Every version the run holds, originals and corrections, with one statement per writer."""
        corrections = [(e, pos) for e, pos in events if isinstance(e.data, ReportCorrected) and self._writes(e.data)]
        held = await self._held(conn, [e.data.corrects for e, _ in corrections]) if corrections else {}
        yield  # read: the rest writes
        by_writer: dict[Writer, list[Version]] = {}
        for event, pos in events:
            version = self._version(event, pos, held)
            if version is not None:
                held[event.event_id] = _Held(event.incident_id, type(version.values).event_type(), version.version_of)
                by_writer.setdefault(self._writers[type(version.values)], []).append(version)
        for write, versions in by_writer.items():
            await write(conn, versions)

    def _writes(self, correction: ReportCorrected) -> bool:
        """Does this read model hold the type this correction corrects?"""
        return payload_class(correction.corrected_type) in self._writers

    def _version(self, event: Event[Any], pos: Position, held: dict[UUID, _Held]) -> Version | None:
        """The version `event` is, given the versions held before it (stored, or earlier in the run); None when it is
        none of this read model's."""
        if type(event.data) in self._writers:
            return Version(event, event.data, event.event_id, pos)
        if not isinstance(event.data, ReportCorrected) or not self._writes(event.data):
            return None
        correction = event.data
        target = held.get(correction.corrects)
        found = None if target is None else (target.incident_id, target.type)
        check_target(found, correction.corrects, event, correction.corrected_type)  # raises: redone one by one
        assert target is not None
        values = payload_class(correction.corrected_type).model_validate(correction.replacement)
        return Version(event, values, target.version_of, pos)  # a correction of a correction: of the original

    async def _held(self, conn: AsyncConnection[Any], ids: Sequence[UUID]) -> dict[UUID, _Held]:
        """The stored versions these ids carry: one SELECT for the run's corrections, before the run is written."""
        cur = await conn.execute(
            sql.SQL(
                "SELECT DISTINCT ON (event_id) event_id, incident_id, type, version_of FROM {} "
                "WHERE event_id = ANY(%b::uuid[])"
            ).format(sql.Identifier(self._table)),
            (sorted(set(ids)),),
        )
        return {
            row["event_id"]: _Held(row["incident_id"], row["type"], row["version_of"]) for row in await cur.fetchall()
        }


async def insert_payload_rows(
    conn: AsyncConnection[Any], table: str, key_column: str, versions: Sequence[Version], key: Callable[[Any], str]
) -> None:
    """Rows of a table shaped (event_id, version_of, incident_id, type, schema_version, <key column>, payload,
    source, times), one per version, in one statement: the payload with the version of its shape, which readers
    upcast from. The rows travel as one JSON document, payload and source nested in it as pydantic encodes them."""
    rows = json_rows(
        [
            {
                "event_id": v.event.event_id,
                "version_of": v.version_of,
                "incident_id": v.event.incident_id,
                "type": type(v.values).event_type(),
                "schema_version": type(v.values).schema_version,
                "key": key(v.values),
                "payload": nested_json(v.values),
                "source": nested_json(v.event.source),
                "occurred_at": v.event.occurred_at,
                "occurred_offset_min": offset_minutes(v.event.occurred_at),
                "recorded_at": v.event.recorded_at,
                "stream_seq": v.pos.seq,
            }
            for v in versions
        ]
    )
    await conn.execute(
        sql.SQL(
            """
            INSERT INTO {table} (event_id, version_of, incident_id, type, schema_version, {column}, payload, source,
                                 occurred_at, occurred_offset_min, recorded_at, stream_seq)
            SELECT * FROM jsonb_to_recordset(%s::jsonb)
                AS r(event_id uuid, version_of uuid, incident_id text, type text, schema_version int, key text,
                     payload jsonb, source jsonb, occurred_at timestamptz, occurred_offset_min int,
                     recorded_at timestamptz, stream_seq bigint)
            ON CONFLICT (event_id) DO NOTHING
            """
        ).format(table=sql.Identifier(table), column=sql.Identifier(key_column)),
        (rows,),
    )
