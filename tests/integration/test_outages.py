"""Outages on dedicated servers (the session's servers stay up for other tests): PostgreSQL stopped for 10 s,
nats-server restarted, both mid-stream. Each test prints its figure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import ConsumerInfo

from schemas.subjects import STREAM_NAME
from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import ensure_stream
from services.common.settings import Settings
from services.projector.group import ProjectionGroup
from services.projector.migrate import migrate
from services.projector.read_models import PROJECTIONS
from services.query.app import create_app as create_query_app
from tests.integration.test_faults import events_for, lowest_checkpoint, publish_all
from tests.integration.test_projector import fetch, running_projector
from tests.waiting import wait_until

OUTAGE_S = 10.0
DURABLE = ProjectionGroup.of(PROJECTIONS.values()).durable_name  # the consumer that feeds every read model


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    yield server
    server.stop()


async def ack_floors(nc: Client) -> dict[str, int]:
    """The ack floor of the consumer that feeds every read model, by its name."""
    return {DURABLE: (await nc.jetstream().consumer_info(STREAM_NAME, DURABLE)).ack_floor.stream_seq}


@pytest.mark.slow
@pytest.mark.usefixtures("stream")
async def test_postgres_down_10s_no_ack_no_loss_and_query_answers_503(
    nc: Client, settings: Settings, own_postgres: EmbeddedPostgres
) -> None:
    """Fault test 2."""
    url = own_postgres.admin_url("postgres")
    migrate(url)
    ours = settings.model_copy(update={"database_url": url, "database_timeout_s": 1.0})
    query_app = create_query_app(ours)
    async with (
        running_projector(ours),
        LifespanManager(query_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=query_app), base_url="http://query") as client,
    ):
        await publish_all(nc, events_for(2000))
        await wait_until(lambda: lowest_checkpoint(url), lambda c: c > 0, what="projecting")
        own_postgres.stop()
        stopped = time.monotonic()
        last = await publish_all(nc, events_for(2000))
        answers: list[int] = []
        floors = []
        while time.monotonic() - stopped < OUTAGE_S:  # the outage lasts this long; look at everything meanwhile
            answers.append((await client.get("/v1/incidents")).status_code)
            floors.append(await ack_floors(nc))
            await asyncio.sleep(0.5)
        own_postgres.start()
        await wait_until(lambda: lowest_checkpoint(url), lambda c: c >= last, within=60, what="catching up")
        after = (await client.get("/v1/incidents")).status_code

    [(logged,)] = await fetch(url, "SELECT count(*) FROM event_log")
    [(counted,)] = await fetch(url, "SELECT sum(event_count) FROM incidents")
    print(
        f"\nPostgreSQL down {OUTAGE_S:.0f} s mid-stream: query answered {answers.count(503)}x 503, "
        f"{len(answers) - answers.count(503)}x other; ack floors {floors[1]} -> {floors[-1]} during it; "
        f"after: {logged} of 4000 events logged, {counted} counted"
    )
    assert set(answers) == {503}
    assert floors[1] == floors[-1], "nothing may be acknowledged while nothing can be committed"
    assert (logged, counted, after) == (4000, 4000, 200)


RESTARTS = 6
BATCH = 20  # the projector's batch: small, to fill its consumer's max_ack_pending with few deliveries
MAX_ACK_PENDING = 2 * BATCH  # the batch being applied and the one fetched ahead
CATCH_UP_S = 15.0  # "a few seconds" on a loaded 2-core machine: far below the 60 s ack_wait a stale consumer waits


@pytest.mark.slow
async def test_nats_server_restarts_with_max_ack_pending_full_each_catch_up_within_seconds_with_no_loss(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """Fault test 3: deliveries in flight when nats-server stops are lost with the connection, but the restarted
    server counts them as pending until ack_wait (60 s) runs out; with max_ack_pending full, it delivers nothing.

    Each round reproduces that state for certain: the projector holds a fetched, unacknowledged batch (its
    commit waits for a row lock this test holds), and another connection takes the rest of max_ack_pending and
    disconnects without acknowledging, as deliveries lost in flight leave them. Then nats-server is stopped with
    SIGTERM and started again, and the projector must catch up within seconds, not after ack_wait. (SIGTERM: the
    server then writes its consumers' state, pending deliveries included; a SIGKILL may lose them, and the stall.)
    """
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    caught_up: list[float] = []
    published = 0
    try:
        ours = settings.model_copy(update={"nats_url": server.url, "projector_batch_size": BATCH})
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        try:
            await ensure_stream(nc, ours)
            async with running_projector(ours):
                for restart in range(RESTARTS):
                    async with await psycopg.AsyncConnection.connect(database_url) as blocker:
                        await blocker.execute("SELECT * FROM projection_checkpoints FOR UPDATE")
                        await publish_all(nc, events_for(1))
                        await wait_until(lambda: commits_waiting(database_url), bool, what="the projector blocked")
                        await wait_until(lambda: consumer(nc), lambda c: c.num_waiting == 0, what="no pull open")
                        last = await publish_all(nc, events_for(3 * BATCH))
                        published += 1 + 3 * BATCH
                        await take_and_drop(server.url, MAX_ACK_PENDING - await ack_pending(nc))
                        assert await ack_pending(nc) == MAX_ACK_PENDING, "max_ack_pending is full"
                        server.stop()
                        server.start()
                        await wait_until(lambda: stream_back(nc), bool, what="JetStream back with the stream")
                        back = time.monotonic()
                    await wait_until(
                        lambda: lowest_checkpoint(database_url),
                        lambda c, last=last: c >= last,  # type: ignore[misc]
                        within=CATCH_UP_S,
                        what=f"catching up after restart {restart + 1} (a stale consumer waits out ack_wait)",
                    )
                    caught_up.append(time.monotonic() - back)
        finally:
            await nc.close()
    finally:
        server.stop()
    [(logged,)] = await fetch(database_url, "SELECT count(*) FROM event_log")
    [(counted,)] = await fetch(database_url, "SELECT sum(event_count) FROM incidents")
    print(
        f"\nnats-server restarted {RESTARTS}x, max_ack_pending full: caught up {[round(s, 1) for s in caught_up]} s "
        f"after JetStream was back; {logged} of {published} logged, {counted} counted"
    )
    assert (logged, counted) == (published, published)


async def consumer(nc: Client) -> ConsumerInfo:
    info: ConsumerInfo = await nc.jetstream().consumer_info(STREAM_NAME, DURABLE)
    return info


async def ack_pending(nc: Client) -> int:
    return (await consumer(nc)).num_ack_pending or 0


async def commits_waiting(database_url: str) -> bool:
    """A projector's transaction waits for a lock (the checkpoints' rows this test holds)."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    [(waiting,)] = await fetch(database_url, sql)
    return bool(waiting)


async def take_and_drop(url: str, count: int) -> None:
    """Take `count` deliveries from the projector's consumer and disconnect without acknowledging them."""
    thief = await nats.connect(url)
    try:
        subscription = await thief.jetstream().pull_subscribe_bind(durable=DURABLE, stream=STREAM_NAME)
        taken = 0
        while taken < count:
            taken += len(await subscription.fetch(count - taken, timeout=5))
    finally:
        await thief.close()


async def stream_back(nc: Client) -> bool:
    try:
        return (await nc.jetstream(timeout=1).stream_info(STREAM_NAME)).state.messages > 0
    except (nats.errors.Error, TimeoutError):
        return False


@pytest.mark.slow
async def test_the_first_read_after_a_postgres_outage_answers(tmp_path: Path, own_postgres: EmbeddedPostgres) -> None:
    """Issue 10, item 9: the pool's reconnect backoff grew with the outage, and reads kept answering 503 for
    seconds after PostgreSQL was back. Now the first read after it is back answers 200, within a second or so."""
    url = own_postgres.admin_url("postgres")
    migrate(url)
    query_app = create_query_app(Settings(database_url=url, data_dir=tmp_path, database_timeout_s=1.5))
    async with (
        LifespanManager(query_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=query_app), base_url="http://query") as client,
    ):
        assert (await client.get("/v1/incidents")).status_code == 200
        own_postgres.stop()
        stopped = time.monotonic()
        answers = []
        while time.monotonic() - stopped < OUTAGE_S:  # each answer takes up to the 1.5 s wait for a connection
            answers.append((await client.get("/v1/incidents")).status_code)
        own_postgres.start()
        back = time.monotonic()
        first = await client.get("/v1/incidents")
        took = time.monotonic() - back

    print(f"\nPostgreSQL down {OUTAGE_S:.0f} s: {len(answers)}x 503; the first read after it answered in {took:.2f} s")
    assert set(answers) == {503}
    assert (first.status_code, took < 1.5) == (200, True)
