"""A batch written set-based (a statement per table and read model) leaves exactly the rows and dead letters that
the same events leave applied one at a time: changes between the originals, and changes some read models refuse."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from structlog.testing import capture_logs

from schemas.catalogue import payload_class
from schemas.envelope import Event, event_class
from schemas.subjects import event_subject
from services.common.embedded_postgres import EmbeddedPostgres
from services.demo.loader import scenario_events
from services.projector.applier import apply_batch
from services.projector.connection import connect_projector
from services.projector.messages import StreamMessage
from services.projector.projection import Position, Projection
from services.projector.read_models import PROJECTIONS
from tests.conftest import fresh_database, incident_id
from tests.factories import make_event
from tests.readmodels import snapshot


def change(target: dict[str, Any], type_: str, **data: Any) -> dict[str, Any]:
    """A later report about `target`: its correction, retraction, verification change or a link."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "incident_id": target["incident_id"],
        "occurred_at": "2020-10-09T10:00:00+06:00",
        "source": {"name": "Desk editor", "kind": "media"},
        "data": data,
    }


def corrected(target: dict[str, Any], replacement: dict[str, Any], type_: str | None = None) -> dict[str, Any]:
    return change(target, "ReportCorrected", corrects=target["event_id"], corrected_type=type_ or target["type"],
                  replacement=replacement, reason="wrong figure")  # fmt: skip


def scenarios() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both demo scenarios under fresh ids, less the flood's changes (they name ids the fresh ones replaced)."""
    kg, flood = incident_id(), incident_id()
    return [{**e, "event_id": str(uuid.uuid4()), "incident_id": kg} for e in scenario_events("kg-2020-election")], [
        {**e, "event_id": str(uuid.uuid4()), "incident_id": flood}
        for e in scenario_events("xa-2021-valley-flood")
        if e["type"] not in ("ReportCorrected", "ReportRetracted", "VerificationChanged", "EventsLinked")
    ]


def first(events: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == type_)


def valid_changes() -> list[dict[str, Any]]:
    """Corrections of a statement, an election event and a casualty report, a retraction, a verification change
    and a link, between the originals: every one applicable."""
    events, flood = scenarios()
    statement, report = first(events, "StatementIssued"), first(events, "CasualtiesReported")
    return [
        *events[:20],
        corrected(statement, {**statement["data"], "quote": "Corrected quote."}),
        corrected(first(events, "ElectionHeld"), first(events, "ElectionHeld")["data"]),
        corrected(report, {"figures": [{"category": "injured", "count": {"value": 600}}]}),
        change(events[1], "ReportRetracted", retracts=events[1]["event_id"], reason="a hoax"),
        change(statement, "VerificationChanged", event=statement["event_id"], status="confirmed"),
        *events[20:],
        change(statement, "EventsLinked", cause=events[0]["event_id"], effect=events[-1]["event_id"]),
        *flood,
    ]


def refused_changes() -> list[dict[str, Any]]:
    """Changes some read models must refuse: a correction of a correction (a casualty report's version to the
    casualties, a correction of the wrong type to the facts), one naming an event later in the stream, one naming
    an event of another incident, one of the wrong type."""
    events, flood = scenarios()
    report, statement = first(events, "CasualtiesReported"), first(events, "StatementIssued")
    later = events[-1]
    correction = corrected(report, {"figures": [{"category": "injured", "count": {"value": 600}}]})
    return [
        *events[:-1],
        correction,
        corrected(correction, {"figures": [{"category": "killed", "count": {"value": 2}}]}, "CasualtiesReported"),
        change(statement, "ReportRetracted", retracts=later["event_id"], reason="names what comes later"),
        later,
        change(statement, "ReportRetracted", retracts=flood[0]["event_id"], reason="of another incident"),
        corrected(statement, {"figures": [{"category": "injured", "count": {"value": 1}}]}, "CasualtiesReported"),
        *flood,
    ]


def messages(submissions: list[dict[str, Any]]) -> list[StreamMessage]:
    recorded = datetime.now(UTC).isoformat()
    result = []
    for seq, submission in enumerate(submissions, start=1):
        event = event_class(payload_class(submission["type"])).model_validate({**submission, "recorded_at": recorded})
        result.append(
            StreamMessage(seq, event_subject(event.incident_id, event.type), event.model_dump_json().encode())
        )
    return result


Outcome = tuple[dict[str, list[tuple[Any, ...]]], list[tuple[Any, ...]]]  # read-model rows, dead letters


async def no_gaps(seq: int) -> int | None:
    raise AssertionError("the messages follow each other: nothing to look up in the stream")


async def apply_in_batches(url: str, batches: list[list[StreamMessage]]) -> None:
    async with await connect_projector(url) as conn:
        for batch in batches:
            await apply_batch(conn, list(PROJECTIONS.values()), batch, no_gaps)
        await conn.commit()


def dead_letters(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT projection, stream_seq FROM dead_letters ORDER BY 1, 2").fetchall()


async def together_and_apart(
    postgres_server: EmbeddedPostgres, stream: list[StreamMessage]
) -> tuple[list[MutableMapping[str, Any]], Outcome, Outcome]:
    """(logs of the batch applied at once, (rows, dead letters) at once, the same applied event by event)."""
    with fresh_database(postgres_server) as together, fresh_database(postgres_server) as apart:
        with capture_logs() as logs:
            await apply_in_batches(together, [stream])
        await apply_in_batches(apart, [[message] for message in stream])
        return logs, (snapshot(together), dead_letters(together)), (snapshot(apart), dead_letters(apart))


async def test_one_set_based_batch_equals_the_events_applied_one_by_one(postgres_server: EmbeddedPostgres) -> None:
    logs, (rows, dead), apart = await together_and_apart(postgres_server, messages(valid_changes()))

    assert not [entry for entry in logs if entry["event"] == "redoing a batch event by event"]  # set-based it was
    assert [table for table, table_rows in rows.items() if not table_rows] == []
    assert dead == []
    assert (rows, dead) == apart


async def test_a_batch_with_refused_changes_dead_letters_exactly_what_one_by_one_does(
    postgres_server: EmbeddedPostgres,
) -> None:
    stream = messages(refused_changes())
    _, together, apart = await together_and_apart(postgres_server, stream)

    refused = {(projection, stream[seq - 1].subject.rsplit(".", 1)[1]) for projection, seq in together[1]}
    assert refused == {("facts", "ReportCorrected"), ("facts", "ReportRetracted"), ("casualties", "ReportCorrected")}
    assert len(together[1]) == 5  # the correction of a correction, 2 retractions and the mistyped correction (x2)
    assert together == apart


def recording(name: str, calls: list[str]) -> Projection:
    """A read model that reads before it writes, noting each step and how many read models had written by then."""
    projection = Projection(name, tables=())

    @projection.on_every_batch
    async def read_then_write(
        conn: AsyncConnection[Any], events: Sequence[tuple[Event[Any], Position]]
    ) -> AsyncIterator[None]:
        cur = await conn.execute("SELECT count(*) AS n FROM pg_temp.written")
        calls.append(f"{name} reads, {(await cur.fetchall())[0]['n']} written")
        yield
        await conn.execute("INSERT INTO pg_temp.written VALUES (%s)", (name,))
        calls.append(f"{name} writes")

    return projection


async def test_a_batch_runs_every_read_models_reads_before_the_first_write(postgres_server: EmbeddedPostgres) -> None:
    """In a pipeline a read waits for every statement before it: no read model's read may wait for another's write."""
    calls: list[str] = []
    events = [make_event("x", "StatementIssued") for _ in range(3)]
    batch = [StreamMessage(seq=i, subject="s", data=e.model_dump_json().encode()) for i, e in enumerate(events, 1)]
    with fresh_database(postgres_server) as url:
        async with await connect_projector(url) as conn:
            await conn.execute("CREATE TEMP TABLE written (name text)")
            result = await apply_batch(conn, [recording("a", calls), recording("b", calls)], batch, no_gaps)

    assert result.applied == 3
    assert calls == ["a reads, 0 written", "b reads, 0 written", "a writes", "b writes"]


async def test_the_event_log_holds_each_event_as_pydantic_encodes_it(postgres_server: EmbeddedPostgres) -> None:
    """Its rows travel as one JSON document: every column and the envelope read back as the decoded event has them
    (offsets other than UTC, microseconds, a time left out, escapes and characters beyond the BMP)."""
    events, _ = scenarios()
    odd = {
        **first(events, "StatementIssued"),
        "event_id": str(uuid.uuid4()),
        "correlation_id": "odd:1",
        "occurred_at": "2020-10-09T23:59:59.123456-11:30",
        "reported_at": "2020-10-10T00:00:00.000001+14:00",
    }
    odd["data"] = {**odd["data"], "quote": 'a "quote", a \\ backslash, \u2028 a separator, \U0001d11e and \u00e9'}
    stream = messages([*events, odd])
    with fresh_database(postgres_server) as url:
        await apply_in_batches(url, [stream])
        with psycopg.connect(url) as conn:
            stored = conn.execute(
                "SELECT stream_seq, event_id, subject, type, schema_version, incident_id, occurred_at, reported_at,"
                " recorded_at, source_name, source_kind, correlation_id, envelope FROM event_log ORDER BY stream_seq"
            ).fetchall()
            statement = conn.execute(
                "SELECT speaker_id, payload, source, occurred_at, occurred_offset_min, recorded_at, stream_seq"
                " FROM statements WHERE event_id = %s",
                (odd["event_id"],),
            ).fetchone()

    expected = []
    for message in stream:
        event = message.event
        assert not isinstance(event, str)
        source = event.source
        expected.append((message.seq, event.event_id, message.subject, event.type, event.schema_version,
                         event.incident_id, event.occurred_at, event.reported_at, event.recorded_at, source.name,
                         source.kind.value, event.correlation_id, json.loads(event.model_dump_json())))  # fmt: skip
    assert stored == expected
    last = stream[-1].event
    assert not isinstance(last, str)
    assert statement == (last.data.speaker.id, json.loads(last.data.model_dump_json()),
                         json.loads(last.source.model_dump_json()), last.occurred_at, -690, last.recorded_at,
                         len(stream))  # fmt: skip
    assert stored[-1][7] is not None and stored[0][7] is None  # both kinds of reported_at were compared


async def test_a_read_model_ahead_of_its_group_skips_what_it_has_applied(postgres_server: EmbeddedPostgres) -> None:
    """A read model swapped in by a replay can be ahead of the others, within a batch: it gets only the events
    after its checkpoint (the incidents fold would count the others twice)."""
    events, _ = scenarios()
    stream = messages(events)
    ahead = len(stream) // 2
    with fresh_database(postgres_server) as url, fresh_database(postgres_server) as once:
        async with await connect_projector(url) as conn:
            await apply_batch(conn, [PROJECTIONS["incidents"]], stream[:ahead], no_gaps)
            await conn.commit()
        await apply_in_batches(url, [stream])
        await apply_in_batches(once, [stream])
        assert snapshot(url) == snapshot(once)
