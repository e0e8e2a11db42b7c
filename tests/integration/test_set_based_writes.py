"""A batch written set-based (a statement per read model and run of events) leaves exactly the rows that the same
events leave applied one batch each, corrections between the originals included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from structlog.testing import capture_logs

from schemas.catalogue import payload_class
from schemas.envelope import Event
from schemas.subjects import event_subject
from services.common.embedded_postgres import EmbeddedPostgres
from services.demo.loader import scenario_events
from services.projector.applier import apply_batch
from services.projector.connection import connect_projector
from services.projector.messages import StreamMessage
from services.projector.read_models import PROJECTIONS
from tests.conftest import fresh_database, incident_id
from tests.readmodels import snapshot


def corrected(target: dict[str, Any], replacement: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "ReportCorrected",
        "incident_id": target["incident_id"],
        "occurred_at": "2020-10-09T10:00:00+06:00",
        "source": {"name": "Desk editor", "kind": "media"},
        "data": {
            "corrects": target["event_id"],
            "corrected_type": target["type"],
            "replacement": replacement,
            "reason": "wrong figure",
        },
    }


def submissions() -> list[dict[str, Any]]:
    """Both demo scenarios under fresh ids, with corrections between the originals: of a statement, of an election
    event and of a casualty report, and a link."""
    kg, flood = incident_id(), incident_id()
    events = [{**e, "event_id": str(uuid.uuid4()), "incident_id": kg} for e in scenario_events("kg-2020-election")]
    statement = next(e for e in events if e["type"] == "StatementIssued")
    election = next(e for e in events if e["type"] == "ElectionHeld")
    report = next(e for e in events if e["type"] == "CasualtiesReported")
    flood_events = [
        {**e, "event_id": str(uuid.uuid4()), "incident_id": flood}
        for e in scenario_events("xa-2021-valley-flood")
        if e["type"] not in ("ReportCorrected", "ReportRetracted", "VerificationChanged", "EventsLinked")
    ]  # these name scenario event ids that the fresh ids replaced
    return [
        *events[:20],
        corrected(statement, {**statement["data"], "quote": "Corrected quote."}),
        corrected(election, election["data"]),
        corrected(report, {"figures": [{"category": "injured", "count": {"value": 600}}]}),
        *events[20:],
        {
            **corrected(statement, {}),
            "type": "EventsLinked",
            "data": {"cause": events[0]["event_id"], "effect": events[-1]["event_id"]},
        },
        *flood_events,
    ]


def messages() -> list[StreamMessage]:
    recorded = datetime.now(UTC).isoformat()
    result = []
    for seq, submission in enumerate(submissions(), start=1):
        event = Event[payload_class(submission["type"])].model_validate({**submission, "recorded_at": recorded})  # type: ignore[misc]
        result.append(
            StreamMessage(seq, event_subject(event.incident_id, event.type), event.model_dump_json().encode())
        )
    return result


async def no_gaps(seq: int) -> int | None:
    raise AssertionError("the messages follow each other: nothing to look up in the stream")


async def apply_in_batches(url: str, batches: list[list[StreamMessage]]) -> None:
    async with await connect_projector(url) as conn:
        for batch in batches:
            result = await apply_batch(conn, list(PROJECTIONS.values()), batch, no_gaps)
            assert result.dead_lettered == 0


async def test_one_set_based_batch_equals_the_events_applied_one_by_one(postgres_server: EmbeddedPostgres) -> None:
    stream = messages()
    with fresh_database(postgres_server) as together, fresh_database(postgres_server) as apart:
        with capture_logs() as logs:
            await apply_in_batches(together, [stream])
        await apply_in_batches(apart, [[message] for message in stream])
        rows_together, rows_apart = snapshot(together), snapshot(apart)

    assert not [entry for entry in logs if entry["event"] == "redoing a batch event by event"]  # set-based it was
    assert [table for table, rows in rows_together.items() if not rows] == []
    assert rows_together == rows_apart
