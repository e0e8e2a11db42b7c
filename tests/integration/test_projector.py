"""The projector against a real nats-server and PostgreSQL: ordering, ack after commit, redelivery, checkpoints."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import psycopg
import pytest
import structlog
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig
from psycopg import AsyncConnection

from schemas.catalogue import EVENT_TYPES
from schemas.envelope import Event
from schemas.json_validation import straight_validator
from schemas.subjects import STREAM_NAME
from services.common.frozen_heap import PROJECTOR_YOUNG_THRESHOLD
from services.common.settings import Settings
from services.projector.app import create_app
from services.projector.applier import apply_batch
from services.projector.connection import connect_projector
from services.projector.consumer import ACK_WAIT_S, acknowledge, next_in_stream
from services.projector.messages import StreamMessage
from services.projector.partition import Partition
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


def at(checkpoints: dict[str, int], seq: int) -> bool:
    """Every projection has reached `seq`: they run independently, so one being there says nothing of the rest."""
    return bool(checkpoints) and all(position == seq for position in checkpoints.values())


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
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: at(c, seqs[-1]))

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
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: at(c, first[-1]))

    second = await publish(nc, [make_event(incident, minute=10 + i) for i in range(10)])
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: at(c, second[-1]))

    [(count,)] = await fetch(
        settings.database_url or "", "SELECT event_count FROM incidents WHERE incident_id = %s", incident
    )
    assert count == 20
    [(logged,)] = await fetch(settings.database_url or "", "SELECT count(*) FROM event_log")
    assert logged == 20


async def stream_messages(nc: Client, seqs: list[int]) -> list[StreamMessage]:
    js = nc.jetstream()
    return [StreamMessage(seq=m.seq or 0, subject=m.subject or "", data=m.data or b"")
            for m in [await js.get_msg(STREAM_NAME, seq) for seq in seqs]]  # fmt: skip


async def test_a_redelivered_batch_is_skipped_up_to_the_checkpoint(nc: Client, settings: Settings) -> None:
    """A crash between COMMIT and ack: the checkpoint, committed with the rows, makes the redelivery a no-op."""
    incident = incident_id()
    seqs = await publish(nc, [make_event(incident, minute=i) for i in range(12)])
    messages = await stream_messages(nc, seqs)
    js = nc.jetstream()
    incidents = PROJECTIONS["incidents"]
    async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
        first = await apply_batch(conn, [incidents], messages[:5], partial(next_in_stream, js))
        again = await apply_batch(conn, [incidents], messages, partial(next_in_stream, js))

    assert (first.applied, first.checkpoint) == (5, seqs[4])
    assert (again.skipped, again.applied, again.checkpoint) == (5, 7, seqs[-1])
    [(count,)] = await fetch(
        settings.database_url or "", "SELECT event_count FROM incidents WHERE incident_id = %s", incident
    )
    assert count == 12


async def test_an_event_after_a_pending_one_is_deferred_not_applied(nc: Client, settings: Settings) -> None:
    """Out of order, the later event would move the checkpoint past the earlier one and lose it."""
    incident = incident_id()
    seqs = await publish(nc, [make_event(incident, minute=i) for i in range(4)])
    messages = await stream_messages(nc, seqs)
    js = nc.jetstream()
    incidents = PROJECTIONS["incidents"]
    async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
        await apply_batch(conn, [incidents], messages[:1], partial(next_in_stream, js))
        early = await apply_batch(conn, [incidents], messages[2:], partial(next_in_stream, js))  # seqs[1] pending
        late = await apply_batch(conn, [incidents], messages[1:], partial(next_in_stream, js))

    assert (early.applied, early.deferred, early.checkpoint) == (0, 2, seqs[0])
    assert (late.applied, late.deferred, late.checkpoint) == (3, 0, seqs[-1])


async def test_a_gap_left_by_a_deleted_message_is_not_waited_for(nc: Client, settings: Settings) -> None:
    incident = incident_id()
    seqs = await publish(nc, [make_event(incident, minute=i) for i in range(3)])
    messages = await stream_messages(nc, seqs)
    js = nc.jetstream()
    await js.delete_msg(STREAM_NAME, seqs[1])
    async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
        result = await apply_batch(
            conn, [PROJECTIONS["incidents"]], [messages[0], messages[2]], partial(next_in_stream, js)
        )
    assert (result.applied, result.checkpoint) == (2, seqs[-1])


class FlakyDatabase:
    """A projection whose handler fails with a transient database error a given number of times."""

    def __init__(self, failures: int) -> None:
        self.failures_left = failures
        self.calls = 0
        self.applied: list[int] = []
        self.projection = Projection("flaky", tables=())
        self.projection.on_every_event(self.handle)

    async def handle(self, conn: AsyncConnection[Any], event: Event[Any], pos: Position) -> None:
        self.calls += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise psycopg.OperationalError("simulated: server closed the connection unexpectedly")
        self.applied.append(pos.seq)


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


async def test_events_published_while_a_batch_waits_for_its_retry_are_applied_after_it(
    nc: Client, settings: Settings
) -> None:
    flaky = FlakyDatabase(failures=2)
    first = await publish(nc, [make_event(incident_id(), minute=i) for i in range(5)])

    async def failures_so_far() -> int:
        return flaky.calls

    async with running_projector(settings, [flaky.projection]):
        await wait_until(failures_so_far, lambda calls: calls >= 1, what="the first failure")
        second = await publish(nc, [make_event(incident_id(), minute=i) for i in range(5)])
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("flaky") == second[-1])

    assert flaky.applied == first + second  # every event once, in stream order


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


async def test_every_projection_has_a_checkpoint_from_the_start(settings: Settings) -> None:
    """Readers take the lowest checkpoint as the position: one missing would overstate it."""
    async with running_projector(settings):
        assert await checkpoints(settings.database_url or "") == {name: 0 for name in PROJECTIONS}


async def test_the_correlation_id_reaches_the_projector_log(nc: Client, settings: Settings) -> None:
    event = make_event(incident_id())
    [seq] = await publish(nc, [event])
    with structlog.testing.capture_logs() as logs:
        async with running_projector(settings):
            await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: c.get("event_log") == seq)
    committed = [entry for entry in logs if entry["event"] == "batch committed"]
    assert any(f"test-{event.event_id}" in entry["correlation_ids"] for entry in committed)


async def test_a_deferred_event_redelivered_before_the_retried_one_comes_back_soon(nc: Client) -> None:
    """A retried batch comes back out of stream order: the later event (deferred) is delivered before the
    earlier one it waits for. Acknowledging the earlier one must not void the later one's NAK: it comes back
    within a fraction of the ack wait, not after it."""
    first, second = await publish(nc, [make_event(incident_id(), minute=i) for i in range(2)])
    js = nc.jetstream()
    config = ConsumerConfig(durable_name="out-of-order", ack_policy=AckPolicy.ALL, ack_wait=ACK_WAIT_S)
    await js.add_consumer(STREAM_NAME, config)
    subscription = await js.pull_subscribe_bind(durable="out-of-order", stream=STREAM_NAME)
    [failed] = await subscription.fetch(1)
    await failed.nak(delay=0.5)  # its batch failed: retried after a pause
    [later] = await subscription.fetch(1)
    [retried] = await subscription.fetch(1, timeout=10)
    assert [later.metadata.sequence.stream, retried.metadata.sequence.stream] == [second, first]

    await acknowledge([later, retried], checkpoint=first)

    [again] = await subscription.fetch(1, timeout=ACK_WAIT_S / 4)
    assert again.metadata.sequence.stream == second


async def first_of_partition_at_7(seq: int) -> int | None:
    return 7


async def test_a_batch_creates_the_checkpoints_of_every_partition_when_none_were_registered(database_url: str) -> None:
    """A batch only locks its checkpoints once the group has registered them; an applier that registered none still
    gets them, every partition's (readers take the lowest of all as the read models' position)."""
    event = make_event(incident_id())
    message = StreamMessage(seq=7, subject="s", data=event.model_dump_json().encode())
    projections = [PROJECTIONS["event_log"], PROJECTIONS["incidents"]]
    async with await connect_projector(database_url) as conn:
        result = await apply_batch(conn, projections, [message], first_of_partition_at_7, Partition(1, 2))

    assert result.applied == 1
    rows = await fetch(database_url, "SELECT projection, partition, last_seq FROM projection_checkpoints ORDER BY 1, 2")
    assert rows == [("event_log", 0, 0), ("event_log", 1, 7), ("incidents", 0, 0), ("incidents", 1, 7)]


async def test_what_the_projector_loaded_at_start_is_out_of_the_collectors_sight_while_it_runs(
    settings: Settings,
) -> None:
    thresholds = gc.get_threshold()
    async with running_projector(settings):
        frozen = gc.get_freeze_count()
        running = gc.get_threshold()
    assert frozen > 10_000  # the app, its models and every imported module
    assert running == (PROJECTOR_YOUNG_THRESHOLD, *thresholds[1:])  # young collections spaced out
    assert gc.get_freeze_count() == 0  # and collectable again once it stops
    assert gc.get_threshold() == thresholds


async def test_the_projector_builds_every_types_validator_before_it_starts(settings: Settings) -> None:
    """Not on a type's first event: the first batches of a catch-up, and the first event after a start, would
    pay for it."""
    straight_validator.cache_clear()  # built by other tests of this process, perhaps
    async with running_projector(settings):
        built = straight_validator.cache_info().currsize
    assert built == len(EVENT_TYPES)  # one for each type (None for one with a free-form value)
