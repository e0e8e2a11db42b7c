"""A stream split by incident into partitions, each fed by a projector of its own, on the real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import RawStreamMsg

from schemas.headers import republishable
from services.cli.bench.workload import SCENARIOS, Mix, incident_name, submissions
from services.cli.status import Report, collect, render
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import EventStream, PartitionsMismatch, ensure_stream
from services.common.settings import Settings
from services.demo.loader import scenario_events
from services.projector.app import create_app
from services.projector.read_models import PROJECTIONS
from tests.conftest import fresh_database
from tests.integration.cli_runner import crisis
from tests.projector_process import ProjectorProcess
from tests.readmodels import snapshot
from tests.stack import running_stack
from tests.waiting import wait_until

GENERATED = 1500  # events copied from the demo scenarios, beside the scenarios themselves
INCIDENTS = 40
MERGED = 4  # incidents merged into another, each in the other partition (by the names, which partition() hashes)
KILLED_BATCH = 25  # the killed projector's batches: small, so that it is killed with most of its share to go


@contextmanager
def own_stream(
    settings: Settings, postgres: EmbeddedPostgres, partitions: int, tag: str | None = None
) -> Iterator[Settings]:
    """Settings for a stream of this test's own (the session's stream keeps its subjects) and a fresh database."""
    tag = tag or uuid.uuid4().hex[:8]
    with fresh_database(postgres) as database_url:
        yield settings.model_copy(
            update={
                "stream_name": f"PARTS_{tag}",
                "subject_prefix": f"parts.{tag}.events",
                "stream_partitions": partitions,
                "database_url": database_url,
            }
        )


@asynccontextmanager
async def declared(nc: Client, *streams: Settings) -> AsyncIterator[None]:
    for settings in streams:
        await ensure_stream(nc, settings)
    try:
        yield
    finally:
        for settings in streams:
            await nc.jetstream().delete_stream(settings.stream_name)


async def ingest(settings: Settings, events: list[dict[str, Any]]) -> int:
    """Post through ingest, as reporters would; returns the last sequence."""
    async with running_stack(settings) as stack:
        for start in range(0, len(events), 500):
            response = await stack.ingest.post("/v1/events/batch", json={"events": events[start : start + 500]})
            assert response.status_code == 202, response.text
    return int(max(result["seq"] for result in response.json()["results"]))


async def stored_messages(nc: Client, settings: Settings, last_seq: int) -> list[RawStreamMsg]:
    return [await nc.jetstream().get_msg(settings.stream_name, seq) for seq in range(1, last_seq + 1)]


async def republish(nc: Client, settings: Settings, messages: list[RawStreamMsg]) -> None:
    """The same messages, in the same order, so at the same sequences: byte for byte the same events."""
    for seq, stored in enumerate(messages, start=1):
        headers = republishable(stored.headers or {})
        ack = await nc.jetstream().publish(stored.subject or "", stored.data or b"", headers=headers)
        assert ack.seq == seq


async def incidents_by_partition(nc: Client, settings: Settings) -> list[dict[str, int]]:
    """Each partition's incidents with how many events it holds of each, counted by the server."""
    stream = EventStream.of(settings)
    found = []
    for k in range(stream.partitions):
        info = await nc.jetstream().stream_info(stream.name, subjects_filter=stream.partition_events(k))
        incidents: dict[str, int] = {}
        for subject, count in (info.state.subjects or {}).items():
            incident = subject.removeprefix(f"{stream.prefix}.").split(".")[0]
            incidents[incident] = incidents.get(incident, 0) + count
        found.append(incidents)
    return found


async def stored_by_partition(nc: Client, settings: Settings) -> list[int]:
    """How many events each partition holds, counted by the server over the stored subjects."""
    return [sum(incidents.values()) for incidents in await incidents_by_partition(nc, settings)]


async def positions(database_url: str) -> dict[tuple[str, int], int]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT projection, partition, last_seq FROM projection_checkpoints")
        return {(name, partition): seq for name, partition, seq in await cur.fetchall()}


async def projected(database_url: str, partitions: int, last_seq: int) -> None:
    await wait_until(
        lambda: positions(database_url),
        lambda found: len(found) == len(PROJECTIONS) * partitions and min(found.values()) >= last_seq,
        within=300,
        what=f"every read model of {partitions} partition(s) to reach {last_seq}",
    )


def merges() -> dict[str, str]:
    """Incidents merged into another: each copy of the election into the flood's copy of the same number."""
    election, flood = SCENARIOS[Mix.demo]
    return {incident_name(election, k): incident_name(flood, k) for k in range(MERGED)}


def merged(incident: str, into: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "IncidentMerged",
        "incident_id": incident,
        "occurred_at": "2020-10-09T12:00:00+06:00",
        "source": {"name": "Desk editor", "kind": "media"},
        "data": {"into": into, "reason": "the same events, reported twice"},
    }


def workload() -> list[dict[str, Any]]:
    """The demo scenarios as they are, then copies of them over many incidents; half-way, some incidents are
    merged into another (IncidentMerged, the one event naming another incident), and their events go on."""
    demo = [event for name in SCENARIOS[Mix.demo] for event in scenario_events(name)]
    generated = submissions(Mix.demo, GENERATED, INCIDENTS)
    half = len(generated) // 2
    return demo + generated[:half] + [merged(i, into) for i, into in merges().items()] + generated[half:]


@asynccontextmanager
async def one_projector_then_split(
    nc: Client, settings: Settings, postgres: EmbeddedPostgres
) -> AsyncIterator[tuple[str, Settings, int]]:
    """The workload ingested into an unpartitioned stream and projected by one projector; then the same messages,
    at the same sequences, in a stream of the same name split in two, not yet projected. Yields the one
    projector's database, the split stream's settings (with a fresh database) and the last sequence; the
    databases and streams are gone once the block ends."""
    tag = uuid.uuid4().hex[:8]  # one stream name and subjects, created unpartitioned and then split in two
    with own_stream(settings, postgres, 1, tag) as whole, own_stream(settings, postgres, 2, tag) as split:
        async with declared(nc, whole):
            last_seq = await ingest(whole, workload())
            messages = await stored_messages(nc, whole, last_seq)
            async with LifespanManager(create_app(whole)):
                await projected(whole.database_url or "", 1, last_seq)
        async with declared(nc, split):
            await republish(nc, split, messages)
            yield whole.database_url or "", split, last_seq


def assert_same_rows(expected_url: str, found_url: str) -> None:
    """Every table of every read model holds, row for row, the rows of the expected database."""
    expected, found = snapshot(expected_url), snapshot(found_url)
    assert expected.keys() == found.keys()
    for table, rows in expected.items():
        assert rows, f"{table} is empty: the workload does not exercise it"
        assert found[table] == rows, table


async def test_two_partition_projectors_build_the_read_models_of_one(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres
) -> None:
    async with one_projector_then_split(nc, settings, postgres_server) as (one_url, split, last_seq):
        async with AsyncExitStack() as stack:
            for partition in (0, 1):  # each with its own NATS and PostgreSQL connections, as two processes
                feeding = split.model_copy(update={"projector_partition": partition})
                await stack.enter_async_context(LifespanManager(create_app(feeding)))
            await projected(split.database_url or "", 2, last_seq)
            js = nc.jetstream()
            delivered = [  # messages delivered to each partition's consumer, redeliveries included
                (await js.consumer_info(split.stream_name, f"projector-all@{k}")).delivered.consumer_seq or 0
                for k in (0, 1)
            ]
        by_partition = await incidents_by_partition(nc, split)
        stored = [sum(incidents.values()) for incidents in by_partition]
        partition_of = {incident: k for k, incidents in enumerate(by_partition) for incident in incidents}
        merged_rows = await fetch_rows(split.database_url or "", "SELECT incident_id, merged_into FROM incidents")

        # Each projector fed its own share of the incidents, and the two shares are the whole stream ...
        assert all(count > last_seq // 5 for count in stored), stored
        assert sum(stored) == last_seq
        assert all(count <= sent < last_seq for count, sent in zip(stored, delivered, strict=True)), delivered
        # ... every merge names an incident of the other partition, both ways round, and is applied ...
        crossings = {(partition_of[incident], partition_of[into]) for incident, into in merges().items()}
        assert crossings == {(0, 1), (1, 0)}, partition_of
        assert {incident: into for incident, into in merged_rows if into} == merges()
        # ... and every table of every read model is, row for row, the single projector's.
        assert_same_rows(one_url, split.database_url or "")


async def test_a_partition_projector_killed_mid_catch_up_resumes_with_exactly_once_effect(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Partition 1's projector, a process of its own in small batches, SIGKILLed once it has committed some of its
    share and before it has all of it, then restarted, while partition 0's runs on."""
    async with one_projector_then_split(nc, settings, postgres_server) as (one_url, split, last_seq):
        url = split.database_url or ""
        stream = EventStream.of(split)
        partition_end = (await nc.jetstream().get_msg(stream.name, subject=stream.partition_events(1))).seq or 0
        env = {
            "CRISIS_STREAM_NAME": split.stream_name,
            "CRISIS_SUBJECT_PREFIX": split.subject_prefix,
            "CRISIS_STREAM_PARTITIONS": "2",
            "CRISIS_PROJECTOR_PARTITION": "1",
            "CRISIS_PROJECTOR_BATCH_SIZE": str(KILLED_BATCH),
        }

        async def partition_1() -> int:
            """Partition 1's position: its lowest checkpoint, 0 until every read model has one."""
            found = {name: seq for (name, k), seq in (await positions(url)).items() if k == 1}
            return min(found.values()) if len(found) == len(PROJECTIONS) else 0

        async with LifespanManager(create_app(split.model_copy(update={"projector_partition": 0}))):
            with ProjectorProcess(split, tmp_path, **env) as projector:
                projector.start()
                await wait_until(partition_1, lambda seq: seq > 0, within=60, what="partition 1's first commit")
                projector.kill()
                at_kill = await partition_1()
                projector.start()
                await projected(url, 2, last_seq)
                projector.stop()

        assert 0 < at_kill < partition_end, (at_kill, partition_end)  # killed mid-catch-up, with work left
        assert_same_rows(one_url, url)


async def test_a_stream_keeps_the_partitions_it_was_created_with(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres
) -> None:
    with own_stream(settings, postgres_server, 2) as split:
        async with declared(nc, split):
            with pytest.raises(PartitionsMismatch, match=r"created with 2 partition.*CRISIS_STREAM_PARTITIONS is 3"):
                await ensure_stream(nc, split.model_copy(update={"stream_partitions": 3}))
            with pytest.raises(PartitionsMismatch, match="created with 2 partition"):
                await ensure_stream(nc, split.model_copy(update={"stream_partitions": 1}))


async def test_a_caught_up_partition_counts_as_at_the_end_of_the_stream(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres
) -> None:
    """Events of one incident land in one partition; the other partition's checkpoint must follow the stream's end,
    or a reader waiting for the position (read-your-writes) would wait for ever."""
    with own_stream(settings, postgres_server, 2) as split:
        async with declared(nc, split), AsyncExitStack() as stack:
            for partition in (0, 1):
                feeding = split.model_copy(update={"projector_partition": partition})
                await stack.enter_async_context(LifespanManager(create_app(feeding)))
            async with running_stack(split) as stack_api:
                events = scenario_events(SCENARIOS[Mix.flood][0])
                response = await stack_api.ingest.post("/v1/events/batch", json={"events": events})
                assert response.status_code == 202, response.text
                last = max(result["seq"] for result in response.json()["results"])
                assert sorted(await stored_by_partition(nc, split)) == [0, len(events)]  # one incident, one partition
                await wait_until(
                    lambda: stack_api.query.get("/v1/incidents", params={"limit": 1}),
                    lambda r: int(r.headers["X-Position"]) >= last,
                    what="X-Position to reach the last event",
                )
                found = await positions(split.database_url or "")
            assert min(found.values()) >= last


async def test_the_projector_refuses_a_partition_the_stream_does_not_have(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRISIS_STREAM_PARTITIONS", "2")
    result = await crisis(settings, "projector", "--partition", "2")
    assert result.exit_code == 2
    assert "partition 2 does not exist" in result.output


async def test_optimistic_concurrency_holds_per_incident_on_a_partitioned_stream(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres
) -> None:
    """Ingest's expected position is the incident's last sequence over its subjects, partition token included."""
    with own_stream(settings, postgres_server, 2) as split:
        async with declared(nc, split), running_stack(split) as stack:
            incident = "kg-2020-election"
            opened = {**scenario_events(incident)[0], "event_id": str(uuid.uuid4())}
            first = await stack.ingest.post("/v1/events", json=opened, headers={"If-Match": '"0"'})
            position = first.json()["seq"]
            second = await stack.ingest.post(
                "/v1/events", json={**opened, "event_id": str(uuid.uuid4())}, headers={"If-Match": str(position)}
            )
            stale = await stack.ingest.post(
                "/v1/events", json={**opened, "event_id": str(uuid.uuid4())}, headers={"If-Match": str(position)}
            )
            other = await stack.ingest.post(  # another incident's writes move nothing of this one
                "/v1/events",
                json={**opened, "event_id": str(uuid.uuid4()), "incident_id": "another-incident"},
                headers={"If-Match": '"0"'},
            )

    assert (first.status_code, second.status_code, other.status_code) == (202, 202, 202), second.text
    assert stale.status_code == 409, stale.text
    assert stale.json()["current_position"] == second.json()["seq"]


async def test_each_partition_has_its_lease_and_standbys_and_status_shows_them(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres
) -> None:
    with own_stream(settings, postgres_server, 2) as split:
        async with declared(nc, split), AsyncExitStack() as stack:
            for partition in (0, 0, 1):  # two processes for partition 0: one feeds it, the other stands by
                feeding = split.model_copy(update={"projector_partition": partition})
                await stack.enter_async_context(LifespanManager(create_app(feeding)))

            def every_partition_fed(report: Report) -> bool:
                return all(
                    [(k.state, k.standbys) for k in p.partitions] == [("active", 1), ("active", 0)]
                    for p in report.status.projections
                )

            report = await wait_until(lambda: collect(split, rate_window_s=0), every_partition_fed, what="leases")
    assert all(p.state == "active" and p.standbys == 0 for p in report.status.projections)
    assert "  partition 1" in render(report)


async def test_dead_letters_and_a_replay_work_on_a_partitioned_stream(
    nc: Client, settings: Settings, postgres_server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    with own_stream(settings, postgres_server, 2) as split:
        url = split.database_url or ""
        async with declared(nc, split):
            await ingest(split, submissions(Mix.demo, 300, 10))
            poison = await nc.jetstream().publish(
                f"{split.subject_prefix}.bench-0-kg-2020-election.StatementIssued",
                b"{not json",
                headers={"Nats-Msg-Id": "p"},
            )
            last_seq = await ingest(split, submissions(Mix.demo, 100, 10))
            async with AsyncExitStack() as stack:
                for partition in (0, 1):
                    feeding = split.model_copy(update={"projector_partition": partition})
                    await stack.enter_async_context(LifespanManager(create_app(feeding)))
                await projected(url, 2, last_seq)
            dead = await fetch_rows(url, "SELECT projection, stream_seq FROM dead_letters ORDER BY 1")
            assert dead == [(name, poison.seq) for name in sorted(PROJECTIONS)]

            before = snapshot(url)
            await fetch_rows(url, "UPDATE incidents SET event_count = 0 RETURNING 1")  # as a handler bug would
            for name, value in {"STREAM_NAME": split.stream_name, "SUBJECT_PREFIX": split.subject_prefix}.items():
                monkeypatch.setenv(f"CRISIS_{name}", value)
            monkeypatch.setenv("CRISIS_STREAM_PARTITIONS", "2")
            result = await crisis(split, "replay", "all")

        assert result.exit_code == 0, result.output
        assert snapshot(url) == before
        assert set((await positions(url)).values()) == {last_seq}  # every read model, in both partitions


async def fetch_rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await (await conn.execute(query)).fetchall()
