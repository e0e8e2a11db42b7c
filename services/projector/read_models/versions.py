"""Versioned read models: a report and each correction of it are row sets of their own, never overwritten.

A read model registers one writer per payload type; `Versions` runs it for the original event (version_of = its
own id) and again, with the replacement payload, for every `ReportCorrected` of that type (version_of = the
corrected report). Views pick the latest version recorded by `as_of`. A correction naming an event this read
model does not hold, one of another incident, or one of another type raises `UnknownTarget`: the applier
dead-letters it with that reason and no row is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from schemas.catalogue import payload_class
from schemas.envelope import Event
from schemas.events.base import EventPayload
from schemas.events.facts import ReportCorrected
from services.domain.utc import offset_minutes
from services.projector.projection import Position, Projection

# (conn, the event that carries the values, the values, the id of the original report, its stream position)
Writer = Callable[[AsyncConnection[Any], Event[Any], Any, UUID, Position], Awaitable[None]]


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
        projection.on(ReportCorrected)(self._apply_correction)
        self._projection = projection

    def writer(self, *payloads: type[EventPayload]) -> Callable[[Writer], Writer]:
        def register(write: Writer) -> Writer:
            async def write_original(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
                await write(conn, event, event.data, event.event_id, pos)

            self._projection.on(*payloads)(write_original)
            for payload in payloads:
                self._writers[payload] = write
            return write

        return register

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
        await write(
            conn, event, values, row["version_of"], pos
        )  # a correction of a correction is a version of the original


async def insert_payload_row(
    conn: AsyncConnection[Any],
    table: str,
    key: tuple[str, str],
    event: Event[Any],
    values: EventPayload,
    version_of: UUID,
    pos: Position,
) -> None:
    """One row of a table shaped (event_id, version_of, incident_id, type, schema_version, <key column>, payload,
    source, times): the payload with the version of its shape, which readers upcast from."""
    column, value = key
    await conn.execute(
        sql.SQL(
            """
            INSERT INTO {table} (event_id, version_of, incident_id, type, schema_version, {column}, payload, source,
                                 occurred_at, occurred_offset_min, recorded_at, stream_seq)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (event_id) DO NOTHING
            """
        ).format(table=sql.Identifier(table), column=sql.Identifier(column)),
        (
            event.event_id,
            version_of,
            event.incident_id,
            type(values).event_type(),
            type(values).schema_version,
            value,
            Jsonb(values.model_dump(mode="json")),
            Jsonb(event.source.model_dump(mode="json")),
            event.occurred_at,
            offset_minutes(event.occurred_at),
            event.recorded_at,
            pos.seq,
        ),
    )
