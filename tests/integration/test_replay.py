"""Blue/green replay against the real servers: rebuild beside the live tables, swap, resume, refuse bad input."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from psycopg import sql

from schemas.subjects import STREAM_NAME
from services.common.eventstream import DEFAULT_STREAM
from services.common.frozen_heap import PROJECTOR_YOUNG_THRESHOLD
from services.common.settings import Settings
from services.projector.connection import connect_projector
from services.projector.prefetch import Prefetcher
from services.projector.read_models import PROJECTIONS
from services.projector.replay import FETCH_WAIT_S, ShadowFeed, plan, replay, temporary_consumer
from services.projector.shadow import build_indexes, open_shadows, shadow_schema
from services.query.app import create_app as create_query_app
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.cli_runner import crisis
from tests.integration.test_domain_api import correction, government_report, scenario
from tests.integration.test_projector import checkpoints, fetch, publish, running_projector
from tests.integration.test_set_based_writes import messages, refused_changes
from tests.readmodels import snapshot
from tests.stack import running_stack
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")


async def index_definitions(database_url: str, schema: str = "public") -> list[tuple[Any, ...]]:
    return await fetch(
        database_url,
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2",
        schema,
    )


async def grants(database_url: str) -> list[tuple[Any, ...]]:
    """Who may do what on each table: the services' least-privilege roles must keep their rights over a swap."""
    return await fetch(
        database_url,
        """SELECT c.relname, pg_get_userbyid(a.grantee), a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1, 2, 3""",
    )


async def shadow_schemas(database_url: str) -> list[tuple[Any, ...]]:
    return await fetch(database_url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%%'")


async def projected(nc: Client, settings: Settings, count: int) -> tuple[str, int]:
    incident = incident_id()
    events = [make_event(incident, "IncidentOpened", title="Replayed")]
    events += [make_event(incident, minute=i) for i in range(1, count)]
    seqs = await publish(nc, events)
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: min(c.values()) == seqs[-1])
    return incident, seqs[-1]


async def test_replay_all_swaps_in_equal_tables_with_the_same_indexes(nc: Client, settings: Settings) -> None:
    url = settings.database_url or ""
    _, last = await projected(nc, settings, 300)
    before, indexes, rights = snapshot(url), await index_definitions(url), await grants(url)
    assert ("incidents", "crisis_reader", "SELECT") in rights
    # Make the live tables wrong, as a handler bug would: the rebuild must correct them.
    await fetch(url, "UPDATE incidents SET event_count = 0 RETURNING 1")

    result = await crisis(settings, "replay", "all")

    assert result.exit_code == 0, result.output
    assert all(f"{name}: rebuilt from sequence 1, live at {last}" in result.output for name in PROJECTIONS)
    assert snapshot(url) == before
    assert await index_definitions(url) == indexes
    assert await grants(url) == rights
    assert await shadow_schemas(url) == []
    assert await checkpoints(url) == {name: last for name in PROJECTIONS}


async def test_an_interrupted_replay_resumes_from_its_shadow(nc: Client, settings: Settings) -> None:
    url = settings.database_url or ""
    _, last = await projected(nc, settings, 200)
    before = snapshot(url)
    incidents = PROJECTIONS["incidents"]
    # A first run that stops after 50 events, as Ctrl-C would leave it.
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        shadows = await open_shadows(conn, "incidents", [incidents], None)
        origin = shadows[0].origin
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT)
        async with temporary_consumer(nc.jetstream(), config) as sub:
            batches = Prefetcher(sub, 10, FETCH_WAIT_S, DEFAULT_STREAM)
            await ShadowFeed(nc.jetstream(), batches, conn, shadows).until(last - 150, lambda *_: None)
            await batches.aclose()
    assert (origin, snapshot(url)) == (1, before)  # the live tables are untouched meanwhile

    result = await crisis(settings, "replay", "incidents")

    assert result.exit_code == 0, result.output
    assert f"incidents: rebuilt from sequence 1, resumed after {last - 150}, live at {last}" in result.output
    assert snapshot(url) == before


async def test_one_consumer_feeds_the_shadows_of_two_projections_reading_the_stream_once(
    nc: Client, settings: Settings
) -> None:
    url = settings.database_url or ""
    _, last = await projected(nc, settings, 120)
    two = [PROJECTIONS["incidents"], PROJECTIONS["event_log"]]
    js = nc.jetstream()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        shadows = await open_shadows(conn, "all", two, None)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.ALL)
        async with temporary_consumer(js, config) as sub:
            batches = Prefetcher(sub, 25, FETCH_WAIT_S, DEFAULT_STREAM)
            await ShadowFeed(js, batches, conn, shadows).until(last, lambda *_: None)
            await batches.aclose()
            info = await js.consumer_info(STREAM_NAME, config.name or "")

    assert (info.delivered.consumer_seq, info.delivered.stream_seq, info.num_redelivered) == (120, last, 0)
    assert [shadow.checkpoint for shadow in shadows] == [last, last]
    for table in ("incidents", "event_log"):
        assert await fetch(url, f"SELECT count(*) FROM rebuild_{table}.{table}") == await fetch(
            url, f"SELECT count(*) FROM public.{table}"
        )


async def test_a_replay_builds_the_other_indexes_of_the_tables_it_only_writes_at_the_end(
    nc: Client, settings: Settings
) -> None:
    url = settings.database_url or ""
    await projected(nc, settings, 50)
    indexes = await index_definitions(url)
    write_only = {table for projection in PROJECTIONS.values() for table in projection.write_only}
    built: list[str] = []

    todo = await plan(settings, "all", list(PROJECTIONS.values()), None)
    await replay(settings, "all", todo, None, lambda *_: None, built.append)

    assert write_only == {"event_log", "actor_mentions"}
    assert sorted(built) == [
        f"{table}.{name}" for table, name, definition in indexes if table in write_only and " UNIQUE " not in definition
    ]
    assert await index_definitions(url) == indexes


async def test_the_indexes_built_at_the_end_are_shared_out_among_the_connections_given(
    nc: Client, settings: Settings
) -> None:
    url = settings.database_url or ""
    await projected(nc, settings, 50)
    live = await index_definitions(url)
    async with (
        await connect_projector(url, autocommit=True) as feeding,
        await connect_projector(url, autocommit=True) as builder,
    ):
        shadows = await open_shadows(feeding, "all", list(PROJECTIONS.values()), None)
        built_by: dict[str, list[str]] = {"feeding": [], "builder": []}
        for name, conn in (("feeding", feeding), ("builder", builder)):
            execute = conn.execute

            def counting(query: Any, *args: Any, _name: str = name, _execute: Any = execute) -> Any:
                if isinstance(query, sql.Composed) and query.as_string(feeding).startswith("CREATE INDEX"):
                    built_by[_name].append(query.as_string(feeding))
                return _execute(query, *args)

            conn.execute = counting  # type: ignore[method-assign,assignment]

        await build_indexes([feeding, builder], shadows)

    # each connection built some; together, every index the write-only tables lacked, once
    assert built_by["feeding"] and built_by["builder"]
    shadow_indexes = [
        (table, name)
        for shadow in shadows
        for table, name, _ in await index_definitions(url, shadow_schema(shadow.projection))
    ]
    lacking = [(t, n) for t, n, d in live if t in {"event_log", "actor_mentions"} and " UNIQUE " not in d]
    assert sorted(set(shadow_indexes) & set(lacking)) == sorted(lacking)
    assert len(built_by["feeding"]) + len(built_by["builder"]) == len(lacking)


async def replay_deliveries(nc: Client) -> int:
    """Messages the stream has delivered to replay consumers (theirs are named replay-...)."""
    consumers = await nc.jetstream().consumers_info(STREAM_NAME)
    return sum(c.delivered.consumer_seq for c in consumers if c.name.startswith("replay-") and c.delivered)


async def test_a_replay_fetches_its_first_batch_while_postgresql_makes_the_shadows(
    nc: Client, settings: Settings
) -> None:
    url = settings.database_url or ""
    _, last = await projected(nc, settings, 30)
    before = snapshot(url)

    todo = await plan(settings, "all", list(PROJECTIONS.values()), None)

    assert todo == list(PROJECTIONS.values())
    assert await shadow_schemas(url) == []  # planning changes nothing
    async with await psycopg.AsyncConnection.connect(url) as holder:
        # A shadow is made LIKE its live table: the shadows' transaction waits while the test holds one.
        await holder.execute("LOCK TABLE public.incidents IN ACCESS EXCLUSIVE MODE")
        replaying = asyncio.create_task(replay(settings, "all", todo, None, lambda *_: None))
        await wait_until(lambda: lock_waits(url), lambda n: n > 0, what="the shadows' transaction to wait")
        await wait_until(lambda: replay_deliveries(nc), lambda n: n > 0, what="the first batch fetched meanwhile")
        assert not replaying.done()
    rebuilt = await replaying  # the lock is gone with the holder's transaction

    assert [done.live_at for done in rebuilt] == [last] * len(PROJECTIONS)
    assert snapshot(url) == before
    assert await shadow_schemas(url) == []


async def test_replay_all_reads_the_stream_with_one_consumer(nc: Client, settings: Settings) -> None:
    url = settings.database_url or ""
    await projected(nc, settings, 50)
    before = snapshot(url)
    created = await nc.subscribe(f"$JS.EVENT.ADVISORY.CONSUMER.CREATED.{STREAM_NAME}.*")

    result = await crisis(settings, "replay", "all")

    assert result.exit_code == 0, result.output
    await nc.flush()  # a round trip: the server has sent every advisory of the replay before it answers
    advisories = [(await created.next_msg(timeout=1)).subject.rsplit(".", 1)[-1] for _ in range(created.pending_msgs)]
    assert len(advisories) == 1 and advisories[0].startswith("replay-"), advisories
    assert snapshot(url) == before


async def test_a_replay_feeds_its_shadows_with_the_heap_frozen(nc: Client, settings: Settings) -> None:
    """As in the projector: a full collection during the feed walks only what the run made, not every module and
    schema loaded, and the young ones are spaced out; the heap is collectable again and the thresholds are back
    afterwards."""
    _, last = await projected(nc, settings, 30)
    projections = await plan(settings, "all", list(PROJECTIONS.values()), None)
    frozen: list[int] = []
    thresholds = gc.get_threshold()
    running: set[tuple[int, ...]] = set()

    def on_progress(*_: int) -> None:
        frozen.append(gc.get_freeze_count())
        running.add(gc.get_threshold())

    rebuilt = await replay(settings, "all", projections, None, on_progress)

    assert [done.live_at for done in rebuilt] == [last] * len(PROJECTIONS)
    assert frozen and min(frozen) > 0
    assert running == {(PROJECTOR_YOUNG_THRESHOLD, *thresholds[1:])}  # young collections spaced out, as the projector's
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def start_replay_all(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`crisis replay all` as an operator runs it, small batches so that each projection takes a while."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")} | {
        "CRISIS_NATS_URL": settings.nats_url or "",
        "CRISIS_DATABASE_URL": settings.database_url or "",
        "CRISIS_PROJECTOR_BATCH_SIZE": "5",
    }
    with log.open("wb") as out:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "services", "replay", "all"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Ctrl-C as at a terminal, however the suite was started: a shell ignores SIGINT in the jobs it puts in
            # the background, and the child would inherit that and wait for ever on the lock the test holds.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


async def shadow_checkpoint(url: str, projection: str) -> int | None:
    """The checkpoint of the projection's shadow in `crisis replay all`'s bookkeeping; None when it has none."""
    [(table,)] = await fetch(url, "SELECT to_regclass('replay_all.projection_checkpoints')::text")
    if table is None:
        return None
    seqs = await fetch(url, f"SELECT last_seq FROM {table} WHERE projection = %s", projection)
    return int(seqs[0][0]) if seqs else None


async def lock_waits(url: str, query_like: str = "%") -> int:
    """Sessions of the test database waiting for a lock, in a statement LIKE `query_like`."""
    [(waiting,)] = await fetch(
        url,
        """SELECT count(*) FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE %s""",
        query_like,
    )
    return int(waiting)


async def test_replay_all_interrupted_in_its_third_projection_resumes_there(
    nc: Client, settings: Settings, tmp_path: Path
) -> None:
    """Issue 10, item 9: the rerun rebuilt from sequence 1 the projections the interrupted run had swapped in."""
    url = settings.database_url or ""
    _, last = await projected(nc, settings, 400)
    before = snapshot(url)
    first, second, third, *rest = PROJECTIONS

    # Ctrl-C while the third projection is being swapped in: the test holds its live checkpoint's row lock, which
    # the swap takes first, so the replay waits there, its first two projections swapped in, the third fed (and
    # the rest with it: one consumer feeds every shadow of the run).
    async with await psycopg.AsyncConnection.connect(url) as holder:
        await holder.execute("SELECT 1 FROM projection_checkpoints WHERE projection = %s FOR UPDATE", (third,))
        replaying = start_replay_all(settings, tmp_path / "replay.log")
        try:
            # the swap's lock of the live checkpoint; not the brief waits of two index builds on one table
            await wait_until(
                lambda: lock_waits(url, "%FOR UPDATE%"), lambda n: n > 0, within=120, what="the third projection's swap"
            )
            replaying.send_signal(signal.SIGINT)
            assert replaying.wait(timeout=30) == 130, (tmp_path / "replay.log").read_text()
        finally:
            if replaying.poll() is None:
                replaying.kill()
    stopped_at = {name: await shadow_checkpoint(url, name) for name in (third, *rest)}
    assert len(await shadow_schemas(url)) == len(rest) + 1
    assert all(seq is not None and seq > 0 for seq in stopped_at.values())

    result = await crisis(settings, "replay", "all")

    assert result.exit_code == 0, result.output
    assert f"{first}: swapped in by the interrupted run, skipped" in result.output
    assert f"{second}: swapped in by the interrupted run, skipped" in result.output
    for name, seq in stopped_at.items():
        assert f"{name}: rebuilt from sequence 1, resumed after {seq}, live at {last}" in result.output
    assert snapshot(url) == before
    assert await shadow_schemas(url) == []


async def open_transactions(url: str) -> int:
    """Sessions of the test database, but the asking one, with a transaction under way."""
    [(count,)] = await fetch(
        url,
        """SELECT count(*) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL""",
    )
    return int(count)


async def test_a_replay_killed_inside_a_batch_leaves_every_shadow_at_one_checkpoint_and_a_rerun_succeeds(
    nc: Client, settings: Settings, tmp_path: Path
) -> None:
    """All shadows of a run take a batch in one transaction: SIGKILLed between its statements, after six of the
    eight read models wrote their part of the batch, the run leaves none of them with it."""
    url = settings.database_url or ""
    _, last = await projected(nc, settings, 400)
    before, indexes = snapshot(url), await index_definitions(url)
    replaying = start_replay_all(settings, tmp_path / "replay.log")
    try:
        await wait_until(
            lambda: shadow_checkpoint(url, "statements"),
            lambda seq: (seq or 0) >= last - 350,
            within=120,
            what="50 replayed",
        )
        async with await psycopg.AsyncConnection.connect(url) as holder:
            # SHARE lets the statements shadow's reads through and stops its writes: the next batch waits there,
            # the read models before it (event_log ... detentions) written, within the run's transaction.
            await holder.execute("LOCK TABLE rebuild_statements.statements IN SHARE MODE")
            await wait_until(lambda: lock_waits(url), lambda n: n > 0, within=60, what="a batch waiting on statements")
            replaying.kill()
            replaying.wait(timeout=30)
        await wait_until(lambda: open_transactions(url), lambda n: n == 0, within=60, what="its transaction to end")
    finally:
        if replaying.poll() is None:
            replaying.kill()
    checkpoints_left = await fetch(url, "SELECT DISTINCT last_seq FROM replay_all.projection_checkpoints")
    assert len(checkpoints_left) == 1, checkpoints_left
    [(reached,)] = checkpoints_left
    applied = reached - (last - 400)  # the stream's sequences go on from the module's earlier tests
    assert await fetch(url, "SELECT count(*) FROM rebuild_event_log.event_log") == [(applied,)]
    assert await fetch(url, "SELECT sum(event_count)::int FROM rebuild_incidents.incidents") == [(applied,)]
    assert await fetch(url, "SELECT count(*) FROM rebuild_statements.statements") == [(applied - 1,)]
    assert snapshot(url) == before  # the live tables untouched
    # event_log's shadow is fed with its unique indexes only (the others are built at the end, by the rerun)
    assert [name for _, name, _ in await index_definitions(url, "rebuild_event_log")] == [
        name for table, name, definition in indexes if table == "event_log" and " UNIQUE " in definition
    ]

    result = await crisis(settings, "replay", "all")

    assert result.exit_code == 0, result.output
    assert all(f"{name}: rebuilt from sequence 1, resumed after {reached}, live at {last}" in result.output
               for name in PROJECTIONS)  # fmt: skip
    assert snapshot(url) == before
    assert await index_definitions(url) == indexes
    assert await shadow_schemas(url) == []


async def test_a_replay_dead_letters_only_what_a_read_model_refuses_and_every_shadow_gets_the_rest(
    nc: Client, settings: Settings
) -> None:
    """One batch holds events the facts and casualties read models refuse: applied to every shadow in one
    transaction, it is redone event by event there, each shadow's statements in its own schema."""
    url = settings.database_url or ""
    js = nc.jetstream()
    for message in messages(refused_changes()):
        last = (await js.publish(message.subject, message.data)).seq
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(url), lambda c: min(c.values()) == last)
    refused = await fetch(url, "SELECT projection, stream_seq FROM dead_letters ORDER BY 1, 2")
    assert {projection for projection, _ in refused} == {"facts", "casualties"}
    before = snapshot(url)

    result = await crisis(settings, "replay", "all")

    assert result.exit_code == 0, result.output
    assert await fetch(url, "SELECT projection, stream_seq FROM dead_letters ORDER BY 1, 2") == refused
    assert snapshot(url) == before
    assert await checkpoints(url) == {name: last for name in PROJECTIONS}


async def test_replay_from_a_sequence_builds_only_what_follows(nc: Client, settings: Settings) -> None:
    url = settings.database_url or ""
    incident, last = await projected(nc, settings, 10)
    result = await crisis(settings, "replay", "incidents", "--from-seq", str(last - 3))
    assert result.exit_code == 0, result.output
    assert await fetch(url, "SELECT event_count FROM incidents WHERE incident_id = %s", incident) == [(4,)]


DOMAIN_PATHS = (
    "/v1/incidents/{id}",
    "/v1/incidents/{id}/timeline",
    "/v1/incidents/{id}/summary",
    "/v1/incidents/{id}/casualties",
    "/v1/incidents/{id}/elections",
    "/v1/incidents/{id}/detentions",
    "/v1/incidents/{id}/statements",
    "/v1/incidents/{id}/actors",
    "/v1/incidents/{id}/map",
)


async def test_replay_of_every_domain_read_model_on_the_seed_scenario(settings: Settings) -> None:
    """Every read model, fed the whole seed scenario through ingest: the rebuild is row for row the live one."""
    url = settings.database_url or ""
    incident = incident_id()
    async with running_stack(settings, projector=True) as stack:
        events = scenario("kg-2020-election", incident)
        await stack.post(*events)
        link = {
            "type": "EventsLinked",
            "incident_id": incident,
            "occurred_at": "2020-10-08T12:00:00+06:00",
            "source": {"name": "Analyst", "kind": "other"},
            "data": {"cause": events[0]["event_id"], "effect": events[-1]["event_id"]},
        }
        await stack.post(correction(incident, government_report(events), injured=600), link)
        before, indexes = snapshot(url), await index_definitions(url)
        answers = [(await stack.query.get(path.format(id=incident))).json() for path in DOMAIN_PATHS]
        result = await crisis(settings, "replay", "all")
        answers_after = [(await stack.query.get(path.format(id=incident))).json() for path in DOMAIN_PATHS]

    assert result.exit_code == 0, result.output
    assert [table for table, rows in before.items() if not rows] == []  # the scenario fills every read model
    assert snapshot(url) == before
    assert await index_definitions(url) == indexes
    assert answers_after == answers


@pytest.mark.parametrize(
    "args, message",
    [
        (["replay", "nope"], "unknown projection 'nope'"),
        (["replay", "all", "--from-seq", "999999"], "--from-seq 999999 is beyond the stream"),
        (["replay", "all", "--from-time", "yesterday"], "'yesterday' is not an ISO 8601 time"),
        (["replay", "all", "--from-time", "2999-01-01T00:00:00Z"], "no event at or after it"),
        (["replay", "all", "--from-seq", "1", "--from-time", "2020-01-01"], "not both"),
    ],
)
async def test_bad_replay_requests_change_nothing(
    nc: Client, settings: Settings, args: list[str], message: str
) -> None:
    url = settings.database_url or ""
    await projected(nc, settings, 3)
    before = snapshot(url)
    result = await crisis(settings, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert snapshot(url) == before and await shadow_schemas(url) == []


@pytest.mark.slow
async def test_replay_under_read_load_and_ingest_fails_no_request(nc: Client, settings: Settings) -> None:
    """Fault test 6: the query API keeps answering through the swap, and answers the same after it."""
    url = settings.database_url or ""
    incident, _ = await projected(nc, settings, 1000)
    failures: list[str] = []
    answers = 0

    async def read_load(client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        nonlocal answers
        while not stop.is_set():
            for path in ("/v1/incidents", f"/v1/incidents/{incident}", f"/v1/incidents/{incident}/timeline"):
                response = await client.get(path)
                answers += 1
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")

    async def ingest_load(stop: asyncio.Event) -> None:
        for minute in range(1000):  # bounded, so that the rebuild can catch up on this 2-core machine
            if stop.is_set():
                return
            await publish(nc, [make_event(incident_id(), minute=minute)])

    query_app = create_query_app(settings)
    async with (
        LifespanManager(query_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=query_app), base_url="http://query") as client,
        running_projector(settings),
    ):
        before = (await client.get(f"/v1/incidents/{incident}")).json()
        stop = asyncio.Event()
        loads = [asyncio.create_task(read_load(client, stop)) for _ in range(4)] + [
            asyncio.create_task(ingest_load(stop))
        ]
        started = time.monotonic()
        result = await crisis(settings, "replay", "all")
        seconds = time.monotonic() - started
        stop.set()
        await asyncio.gather(*loads)
        after = (await client.get(f"/v1/incidents/{incident}")).json()
        state = (await nc.jetstream().stream_info("CRISIS_EVENTS")).state
        await wait_until(
            lambda: checkpoints(url), lambda c: min(c.values()) == state.last_seq, within=120, what="caught up"
        )

    print(f"\nreplay of every projection under load: {seconds:.1f} s, {answers} answers, {len(failures)} failed")
    assert result.exit_code == 0, result.output
    assert failures == []
    assert after == before
    [(logged,)] = await fetch(url, "SELECT count(*) FROM event_log")
    assert logged == state.messages
