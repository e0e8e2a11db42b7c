"""The projector against a real nats-server and PostgreSQL: ordering, ack after commit, redelivery, checkpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from services.projector.app import create_app
from services.projector.projection import Position, Projection
from services.projector.read_models import PROJECTIONS
from tests.conftest import incident_id
from tests.factories import make_event, publish_args
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")


@asynccontextmanager
async def running_projector(settings: Settings, projections: list[Projection] | None = None) -> AsyncIterator[None]:
    async with LifespanManager(create_app(settings, projections)):
        yield


async def publish(nc: Client, events: list[Event[Any]]) -> list[int]:
    js = nc.jetstream()
    return [(await js.publish(**publish_args(e))).seq for e in events]


async def fetch(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def checkpoints(database_url: str) -> dict[str, int]:
    rows = await fetch(database_url, "SELECT projection, last_seq FROM projection_checkpoints")
    return {name: seq for name, seq in rows}


async def test_events_reach_both_read_models_in_order(nc: Client, settings: Settings) -> None:
    incident = incident_id()
    events = [make_event(incident, "IncidentOpened", title="Unrest")] + [
        make_event(incident, minute=i) for i in range(1, 30)
    ]
    seqs = await publish(nc, events)

    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("incidents") == seqs[-1])

    logged = await fetch(settings.database_url or "", "SELECT stream_seq, event_id FROM event_log ORDER BY stream_seq")
    assert [(s, e.event_id) for s, e in zip(seqs, events, strict=True)] == logged
    [(title, count, counts)] = await fetch(
        settings.database_url or "",
        "SELECT title, event_count, counts_by_type FROM incidents WHERE incident_id = %s",
        incident,
    )
    assert (title, count, counts) == ("Unrest", 30, {"IncidentOpened": 1, "StatementIssued": 29})


async def test_restart_resumes_from_the_checkpoint_without_applying_twice(nc: Client, settings: Settings) -> None:
    incident = incident_id()
    first = await publish(nc, [make_event(incident, minute=i) for i in range(10)])
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("incidents") == first[-1])

    second = await publish(nc, [make_event(incident, minute=10 + i) for i in range(10)])
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("incidents") == second[-1])

    [(count,)] = await fetch(
        settings.database_url or "", "SELECT event_count FROM incidents WHERE incident_id = %s", incident
    )
    assert count == 20
    [(logged,)] = await fetch(settings.database_url or "", "SELECT count(*) FROM event_log")
    assert logged == 20


async def test_a_batch_committed_but_never_acked_is_skipped_on_redelivery(nc: Client, settings: Settings) -> None:
    """A crash between COMMIT and ack: the checkpoint, committed with the rows, makes the redelivery a no-op."""
    from services.projector.applier import apply_batch
    from services.projector.messages import StreamMessage

    incident = incident_id()
    events = [make_event(incident, minute=i) for i in range(12)]
    seqs = await publish(nc, events)
    js = nc.jetstream()
    committed = [
        StreamMessage(
            seq=seq, subject=(await js.get_msg(STREAM_NAME, seq)).subject or "", data=e.model_dump_json().encode()
        )
        for seq, e in zip(seqs[:5], events[:5], strict=True)
    ]
    async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
        for projection in PROJECTIONS.values():
            await apply_batch(conn, projection, committed)  # committed, never acked: JetStream still has all 12

    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("incidents") == seqs[-1])

    [(count,)] = await fetch(
        settings.database_url or "", "SELECT event_count FROM incidents WHERE incident_id = %s", incident
    )
    assert count == 12


class FlakyDatabase:
    """A projection whose handler fails with a transient database error a given number of times."""

    def __init__(self, failures: int) -> None:
        self.failures_left = failures
        self.calls = 0
        self.projection = Projection("flaky", tables=())
        self.projection.on_every_event(self.handle)

    async def handle(self, conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
        self.calls += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise psycopg.OperationalError("simulated: server closed the connection unexpectedly")


async def test_transient_failure_naks_and_retries_without_skipping(nc: Client, settings: Settings) -> None:
    flaky = FlakyDatabase(failures=3)
    seqs = await publish(nc, [make_event(incident_id(), minute=i) for i in range(5)])

    async with running_projector(settings, [flaky.projection]):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("flaky") == seqs[-1])
        info = await wait_until(
            lambda: nc.jetstream().consumer_info(STREAM_NAME, flaky.projection.durable_name),
            lambda i: i.num_ack_pending == 0,
            what="every message acked",
        )

    assert flaky.failures_left == 0
    # Three NAKed deliveries of the batch, then the one that committed: the batch was never terminated.
    assert info.delivered.consumer_seq == 4 * len(seqs)
    assert flaky.calls == 3 + len(seqs)


async def test_undecodable_and_unappliable_events_go_to_dead_letters(nc: Client, settings: Settings) -> None:
    incident = incident_id()
    js = nc.jetstream()
    good_before = await publish(nc, [make_event(incident, minute=1)])
    poison = await js.publish(f"crisis.events.{incident}.StatementIssued", b"{not json", headers={"Nats-Msg-Id": "p1"})
    wrong_type = await js.publish(
        f"crisis.events.{incident}.Nonsense", b'{"type": "Nonsense"}', headers={"Nats-Msg-Id": "p2"}
    )
    good_after = await publish(nc, [make_event(incident, minute=2)])

    async with running_projector(settings):
        await wait_until(
            lambda: checkpoints(settings.database_url or ""), lambda c: c.get("event_log") == good_after[-1]
        )

    dead = await fetch(
        settings.database_url or "",
        "SELECT stream_seq, projection, error FROM dead_letters WHERE projection = 'event_log' ORDER BY stream_seq",
    )
    assert [(seq, proj) for seq, proj, _ in dead] == [(poison.seq, "event_log"), (wrong_type.seq, "event_log")]
    assert "undecodable" in dead[0][2] and "Nonsense" in dead[1][2]
    logged = await fetch(settings.database_url or "", "SELECT stream_seq FROM event_log ORDER BY stream_seq")
    assert logged == [(good_before[0],), (good_after[0],)]
