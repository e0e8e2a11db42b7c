"""One incident with 30,000 events, read by heavy requests at once (issue 10, item 6): the query service, its own
process on a real PostgreSQL, keeps answering /healthz within 100 ms, and a streamed export holds a chunk of rows,
never the incident. Each test prints its figures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from services.common.embedded_postgres import EmbeddedPostgres
from services.common.ports import free_port
from services.query.heavy_reads import MAX_FOLD_ROWS
from tests.conftest import fresh_database
from tests.heavy_incident import project_heavy_incident
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

EVENTS = 30_000
INCIDENT = "heavy-incident"
HEAVY = (
    "export.csv",
    "map",
    "casualties",
    "summary",
    "export.csv",
    "map",
    "casualties",
    "summary",
    "export.csv",
    "map",
)
MIB = 1024 * 1024
AFTER_EVERY_EVENT = "2099-01-01T00:00:00Z"


@pytest.fixture(scope="module")
async def heavy_database(postgres_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """One database for the module's tests: loading the incident takes a while."""
    with fresh_database(postgres_server) as url:
        await project_heavy_incident(url, INCIDENT, EVENTS)
        yield url


@asynccontextmanager
async def running_query(database_url: str, nats_url: str, log: Path) -> AsyncIterator[tuple[str, psutil.Process]]:
    """`crisis query` in its own process, as in production (the test's own work does not share its event loop),
    ready and warm: its URL and process."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")} | {
        "CRISIS_DATABASE_URL": database_url,
        "CRISIS_NATS_URL": nats_url,
        "CRISIS_QUERY_PORT": str(port),
        # Every heavy request waits its turn here however slow the shared machine is: none may be refused.
        "CRISIS_DATABASE_TIMEOUT_S": "900",
        "CRISIS_LOG_LEVEL": "WARNING",
    }
    process = start_query_process(environment, log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:

            async def ready() -> int:
                try:
                    return (await client.get("/readyz")).status_code
                except httpx.TransportError:
                    return 0

            await wait_until(ready, lambda status: status == 200, within=60, what=f"the query service ({log})")
            # Warm, as a serving process is: each route once, as of a time before any event (no rows to read).
            for route in set(HEAVY):
                response = await client.get(f"/v1/incidents/{INCIDENT}/{route}", params={"as_of": "2000-01-01T00:00Z"})
                assert response.status_code == 200, response.text
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
async def query_service(
    heavy_database: str, nats_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, psutil.Process]]:
    """The service under test, fresh for each test (its memory figures are its own)."""
    async with running_query(heavy_database, nats_url, tmp_path / "query.log") as service:
        yield service


@pytest.fixture
async def idle_query_service(heavy_database: str, nats_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second query service that serves nothing heavy: what the shared machine's load alone does to /healthz."""
    async with running_query(heavy_database, nats_url, tmp_path / "idle-query.log") as (url, _):
        yield url


def start_query_process(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "services", "query"], env=environment, stdout=out, stderr=subprocess.STDOUT
        )


async def download(client: httpx.AsyncClient, route: str, into: Path) -> int:
    """Stream the answer to a file (the test's loop stays free to sample /healthz); the status."""
    async with client.stream("GET", f"/v1/incidents/{INCIDENT}/{route}") as response:
        with into.open("wb") as out:
            async for piece in response.aiter_raw():
                out.write(piece)
        return response.status_code


async def test_healthz_answers_within_100ms_while_ten_heavy_reads_run(
    query_service: tuple[str, psutil.Process], idle_query_service: str, tmp_path: Path
) -> None:
    url, process = query_service
    async with (
        httpx.AsyncClient(base_url=url, timeout=900) as client,
        httpx.AsyncClient(base_url=idle_query_service, timeout=60) as idle,
    ):
        await asyncio.gather(client.get("/healthz"), idle.get("/healthz"))  # the connections the samples reuse
        bodies = [tmp_path / f"{i}-{route}" for i, route in enumerate(HEAVY)]
        started = time.monotonic()
        heavy = [asyncio.create_task(download(client, route, body)) for route, body in zip(HEAVY, bodies, strict=True)]
        latencies: list[float] = []
        idle_latencies: list[float] = []
        rss = []
        while not all(task.done() for task in heavy):
            busy, calm = await asyncio.gather(healthz_latency(client), healthz_latency(idle))
            latencies.append(busy)
            idle_latencies.append(calm)
            rss.append(process.memory_info().rss)
            await asyncio.wait(heavy, timeout=0.05)  # the pace of the samples, until every heavy read is done
        took = time.monotonic() - started

    statuses = [task.result() for task in heavy]
    busy_p99, busy_max = percentile(latencies, 0.99), max(latencies)
    idle_p99, idle_max = percentile(idle_latencies, 0.99), max(idle_latencies)
    print(
        f"\n{len(HEAVY)} heavy reads of a {EVENTS}-event incident at once: all done in {took:.1f} s; /healthz "
        f"sampled {len(latencies)}x: median {percentile(latencies, 0.5) * 1000:.1f} ms, 99th percentile "
        f"{busy_p99 * 1000:.1f} ms, max {busy_max * 1000:.1f} ms; an idle query service at the same moments: "
        f"99th percentile {idle_p99 * 1000:.1f} ms, max {idle_max * 1000:.1f} ms; "
        f"query RSS max {max(rss) / MIB:.0f} MiB"
    )
    # Under 100 ms, beyond what the shared machine's load does at the same moments to a service that serves nothing
    # heavy (on a quiet machine, a few ms), but for the odd sample when the machine does not run the busy process;
    # on a machine so loaded that the idle service itself waits hundreds of ms, within twice its wait (a busy
    # process needs more of the CPU it is short of). Never a stall: before the fix, 2.1 s against an idle 30 ms.
    assert busy_p99 < max(0.1 + idle_p99, 2 * idle_p99)
    assert busy_max < max(0.5 + idle_max, 2 * idle_max)
    # The exports stream every event; the folds would read 20,000 casualty figures, more than one request may.
    assert statuses == [{"export.csv": 200, "map": 200}.get(route, 413) for route in HEAVY]
    csv_lines = bodies[0].read_bytes().count(b"\n")
    features = json.loads(bodies[1].read_bytes())["features"]
    assert (csv_lines, len(features)) == (EVENTS + 2, EVENTS - 1)  # headers, HXL row; IncidentOpened has no place
    refused = json.loads(bodies[2].read_bytes())["error"]
    assert refused.startswith(f"this answer folds more than {MAX_FOLD_ROWS} rows")


async def healthz_latency(client: httpx.AsyncClient) -> float:
    sent = time.monotonic()
    assert (await client.get("/healthz")).status_code == 200
    return time.monotonic() - sent


async def test_an_incident_as_of_a_time_is_tallied_by_postgresql_not_read_event_by_event(
    query_service: tuple[str, psutil.Process],
) -> None:
    """The incident and the list `as_of` a time after every event are the projection's incident, while the query
    process holds none of the 30,000 events: only the lifecycle events are read and folded onto PostgreSQL's tally."""
    url, process = query_service
    async with httpx.AsyncClient(base_url=url, timeout=900) as client:
        projected = (await client.get(f"/v1/incidents/{INCIDENT}")).json()
        before = process.memory_info().rss
        one = (await client.get(f"/v1/incidents/{INCIDENT}", params={"as_of": AFTER_EVERY_EVENT})).json()
        listed = (await client.get("/v1/incidents", params={"as_of": AFTER_EVERY_EVENT})).json()["items"]
        grown = process.memory_info().rss - before

    print(f"\n{INCIDENT} as of {AFTER_EVERY_EVENT}, alone and listed: query RSS grew {grown / MIB:.1f} MiB")
    assert projected["event_count"] == EVENTS and projected["title"] is not None
    assert one == projected
    assert listed == [projected]
    assert grown < 10 * MIB  # each of the 30,000 events parsed into a model, as before, took about 50 MiB


def percentile(samples: list[float], fraction: float) -> float:
    return sorted(samples)[int(len(samples) * fraction)]


async def test_a_streamed_export_holds_a_chunk_never_the_incident(
    query_service: tuple[str, psutil.Process], tmp_path: Path
) -> None:
    url, process = query_service
    before = process.memory_info().rss
    peak = before
    async with httpx.AsyncClient(base_url=url, timeout=900) as client:
        export = asyncio.create_task(download(client, "export.csv", tmp_path / "export.csv"))
        while not export.done():
            peak = max(peak, process.memory_info().rss)
            await asyncio.wait([export], timeout=0.02)  # the pace of the samples, until the export is done
    size = (tmp_path / "export.csv").stat().st_size

    print(f"\nexport.csv of {size / MIB:.0f} MiB: query RSS {before / MIB:.0f} -> {peak / MIB:.0f} MiB at most")
    assert export.result() == 200
    assert size > 10 * MIB
    assert peak - before < 10 * MIB  # the body alone is larger; the rows as models take several times more
