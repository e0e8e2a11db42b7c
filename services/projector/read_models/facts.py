"""`facts`: every event's identity, and what happened to it later (corrected, retracted, verified, linked).

The views read an event's verification status as of a time from `fact_changes` (SQL `verification_as_of`). A
change naming an event that is missing, of another incident or (for corrections) of another type is refused into
the dead letters by `check_target`.

A run of events is written set-based: the targets of its changes are read with one SELECT before the run is
written, a target earlier in the run is known from the run itself and one later in it is not yet held (exactly
as if the events were applied one by one); then the facts, changes and links are written with one statement each.
"""

from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.facts import EventsLinked, ReportCorrected, ReportRetracted, VerificationChanged
from schemas.values import VerificationStatus
from services.projector.projection import Position, Projection, json_rows
from services.projector.read_models.versions import check_target

facts = Projection("facts", tables=("facts", "fact_changes", "fact_links"))

CHANGES = (ReportCorrected, ReportRetracted, VerificationChanged, EventsLinked)


def _change(event: Event[Any]) -> tuple[UUID, str, str | None, str | None, str | None]:
    """(target, kind, status, reason, the type the target must have) of a correction, retraction or verification."""
    data = event.data
    if isinstance(data, ReportCorrected):
        return data.corrects, "corrected", None, data.reason, data.corrected_type
    if isinstance(data, ReportRetracted):
        return data.retracts, "retracted", VerificationStatus.RETRACTED.value, data.reason, None
    assert isinstance(data, VerificationChanged)
    return data.event, "verification", data.status.value, data.reason, None


def _targets(event: Event[Any]) -> list[UUID]:
    data = event.data
    return [data.cause, data.effect] if isinstance(data, EventsLinked) else [_change(event)[0]]


@facts.on_every_batch
async def register_facts(
    conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]
) -> AsyncIterator[None]:
    targets = sorted({target for event, _ in events if isinstance(event.data, CHANGES) for target in _targets(event)})
    held = await _held(conn, targets) if targets else {}
    yield  # read: the rest writes
    change_rows, link_rows = [], []
    for event, pos in events:
        if isinstance(event.data, EventsLinked):
            link = event.data
            check_target(held.get(link.cause), link.cause, event, None)  # raises: the run is redone one by one
            check_target(held.get(link.effect), link.effect, event, None)
            link_rows.append({"event_id": event.event_id, "incident_id": event.incident_id, "cause": link.cause,
                              "effect": link.effect, "explanation": link.explanation,
                              "recorded_at": event.recorded_at})  # fmt: skip
        elif isinstance(event.data, CHANGES):
            target, kind, status, reason, expected_type = _change(event)
            check_target(held.get(target), target, event, expected_type)
            change_rows.append({"event_id": event.event_id, "target_event_id": target,
                                "incident_id": event.incident_id, "kind": kind, "status": status, "reason": reason,
                                "stream_seq": pos.seq, "recorded_at": event.recorded_at})  # fmt: skip
        held.setdefault(event.event_id, (event.incident_id, event.type))
    fact_rows = [
        {
            "event_id": event.event_id,
            "incident_id": event.incident_id,
            "type": event.type,
            "stream_seq": pos.seq,
            "recorded_at": event.recorded_at,
        }
        for event, pos in events
    ]
    await conn.execute(
        """
        INSERT INTO facts (event_id, incident_id, type, stream_seq, recorded_at)
        SELECT * FROM jsonb_to_recordset(%s::jsonb)
            AS r(event_id uuid, incident_id text, type text, stream_seq bigint, recorded_at timestamptz)
        ON CONFLICT (event_id) DO NOTHING
        """,
        (json_rows(fact_rows),),
    )
    if change_rows:
        await conn.execute(
            """
            INSERT INTO fact_changes (event_id, target_event_id, incident_id, kind, status, reason, stream_seq,
                                      recorded_at)
            SELECT * FROM jsonb_to_recordset(%s::jsonb)
                AS r(event_id uuid, target_event_id uuid, incident_id text, kind text, status text, reason text,
                     stream_seq bigint, recorded_at timestamptz)
            ON CONFLICT (event_id) DO NOTHING
            """,
            (json_rows(change_rows),),
        )
    if link_rows:
        await conn.execute(
            """
            INSERT INTO fact_links (event_id, incident_id, cause, effect, explanation, recorded_at)
            SELECT * FROM jsonb_to_recordset(%s::jsonb)
                AS r(event_id uuid, incident_id text, cause uuid, effect uuid, explanation text,
                     recorded_at timestamptz)
            ON CONFLICT (event_id) DO NOTHING
            """,
            (json_rows(link_rows),),
        )


async def _held(conn: AsyncConnection[Any], ids: Sequence[UUID]) -> dict[UUID, tuple[str, str]]:
    """(incident_id, type) of the facts held for these ids, before the run is written."""
    cur = await conn.execute("SELECT event_id, incident_id, type FROM facts WHERE event_id = ANY(%b::uuid[])", (ids,))
    return {row["event_id"]: (row["incident_id"], row["type"]) for row in await cur.fetchall()}
