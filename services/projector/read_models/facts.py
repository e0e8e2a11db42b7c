"""`facts`: every event's identity, and what happened to it later (corrected, retracted, verified, linked).

The views read an event's verification status as of a time from `fact_changes` (SQL `verification_as_of`). A
change naming an event that is missing, of another incident or (for corrections) of another type is refused into
the dead letters by `check_target`.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.facts import EventsLinked, ReportCorrected, ReportRetracted, VerificationChanged
from schemas.values import VerificationStatus
from services.projector.projection import Position, Projection, columns
from services.projector.read_models.versions import check_target

facts = Projection("facts", tables=("facts", "fact_changes", "fact_links"))


@facts.on_every_batch
async def register_facts(conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]) -> None:
    await conn.execute(
        """
        INSERT INTO facts (event_id, incident_id, type, stream_seq, recorded_at)
        SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::bigint[], %b::timestamptz[])
        ON CONFLICT (event_id) DO NOTHING
        """,
        columns([(event.event_id, event.incident_id, event.type, pos.seq, event.recorded_at) for event, pos in events]),
    )


async def _check(conn: AsyncConnection[Any], event: Event[Any], target: UUID, expected_type: str | None) -> None:
    cur = await conn.execute("SELECT incident_id, type FROM facts WHERE event_id = %s", (target,))
    row = await cur.fetchone()
    check_target(None if row is None else (row["incident_id"], row["type"]), target, event, expected_type)


async def _record_change(
    conn: AsyncConnection[Any],
    event: Event[Any],
    pos: Position,
    target: UUID,
    kind: str,
    status: str | None,
    reason: str | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO fact_changes (event_id, target_event_id, incident_id, kind, status, reason, stream_seq, recorded_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING
        """,
        (event.event_id, target, event.incident_id, kind, status, reason, pos.seq, event.recorded_at),
    )


@facts.on(ReportCorrected)
async def record_correction(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    corrected: ReportCorrected = event.data
    await _check(conn, event, corrected.corrects, corrected.corrected_type)
    await _record_change(conn, event, pos, corrected.corrects, "corrected", None, corrected.reason)


@facts.on(ReportRetracted)
async def record_retraction(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    retracted: ReportRetracted = event.data
    await _check(conn, event, retracted.retracts, None)
    await _record_change(
        conn, event, pos, retracted.retracts, "retracted", VerificationStatus.RETRACTED.value, retracted.reason
    )


@facts.on(VerificationChanged)
async def record_verification(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    changed: VerificationChanged = event.data
    await _check(conn, event, changed.event, None)
    await _record_change(conn, event, pos, changed.event, "verification", changed.status.value, changed.reason)


@facts.on(EventsLinked)
async def record_link(conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
    link: EventsLinked = event.data
    await _check(conn, event, link.cause, None)
    await _check(conn, event, link.effect, None)
    await conn.execute(
        """
        INSERT INTO fact_links (event_id, incident_id, cause, effect, explanation, recorded_at)
        VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING
        """,
        (event.event_id, event.incident_id, link.cause, link.effect, link.explanation, event.recorded_at),
    )
