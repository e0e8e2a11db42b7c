"""The analysts' API under load: filtered /v1/events pages, q searches, a year of weekly trends, a CSV export.

    python -m benchmarks.analysts [--events 1000000] [--incidents 100] [--readers 50] [--requests 500]

Starts its own embedded PostgreSQL in a temp dir and fills the read models with COPY, rows in the projector's
shapes (event_log, actor_mentions, casualty_figures, incidents, the checkpoints): the projector itself catches up
at about 700 events/s here (docs/performance.md), 25 minutes for a million. Then it runs the query service as its
own process and, with `--readers` concurrent clients, measures p50/p99 of each read (served from the query
service's answer cache where it holds the answer, and with `Cache-Control: no-cache`: each computed), against the
raw limit on the same machine: the same SQL statements straight through psycopg (no HTTP, no Python fold), with
the same concurrency, and the same HTTP stack (FastAPI on uvicorn, one worker) answering a constant body of the
read's size.
The export is measured alone: rows/s and the query process's RSS, against a server-side cursor reading the same
statement. Prints EXPLAIN (ANALYZE, BUFFERS) of each statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import parse_payload, payload_class
from services.cli.bench.http import Retries
from services.cli.bench.lean_http import FAILURES, Answer, LeanPool
from services.cli.bench.servers import constant_server
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.ports import free_port
from services.projector.migrate import migrate
from services.projector.read_models import PROJECTIONS
from services.query import export_views, search_views, trend_views
from services.query.selection import Selection

COUNTRIES = {
    "KG": (41.2, 74.7),
    "BY": (53.7, 27.9),
    "UA": (49.0, 32.0),
    "GE": (42.3, 43.4),
    "AM": (40.1, 45.0),
    "KZ": (48.0, 67.0),
    "TJ": (38.8, 71.0),
    "MD": (47.4, 28.4),
    "AZ": (40.1, 47.5),
    "UZ": (41.4, 64.6),
}
PLACES_PER_COUNTRY = 20
ACTORS = 500
YEARS = (2019, 2024)  # events happen from the first year's start to the second's
MIX = [("ProtestReported", 35), ("StatementIssued", 25), ("CasualtiesReported", 15), ("PersonDetained", 10)]
MIX += [("BuildingStormed", 10), ("CrowdDispersed", 5)]
SOURCES = [
    ("Ministry of Interior", "government"),
    ("Kloop", "ngo"),
    ("AKIpress", "media"),
    ("OSCE", "international_org"),
]
VOCABULARY_SIZE = 2000
EVENT_LOG_COLUMNS = (
    "stream_seq, event_id, subject, type, schema_version, incident_id, occurred_at, reported_at, recorded_at,"
    " source_name, source_kind, correlation_id, envelope"
)


def vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "ra", "to", "mi", "su", "le", "no", "va", "zi", "po", "de", "ha", "ju", "be", "go"]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(VOCABULARY_SIZE * 2)}
    return sorted(words)[:VOCABULARY_SIZE]


def places() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(7)
    return {
        country: [
            {
                "name": f"{country.title()} town {i}",
                "country": country,
                "admin_area": f"{country} region {i % 4}",
                "lat": round(lat + rng.uniform(-2, 2), 4),
                "lon": round(lon + rng.uniform(-3, 3), 4),
            }
            for i in range(PLACES_PER_COUNTRY)
        ]
        for country, (lat, lon) in COUNTRIES.items()
    }


def actor(i: int) -> dict[str, Any]:
    return {"id": f"actor-{i}", "name": f"Actor Number{i}", "kind": "person"}


def payload(event_type: str, rng: random.Random, words: list[str]) -> dict[str, Any]:
    text = " ".join(rng.choices(words, k=12))
    if event_type == "ProtestReported":
        return {"sub_type": "peaceful_protest", "description": text}
    if event_type == "StatementIssued":
        return {"speaker": actor(rng.randrange(ACTORS)), "quote": text}
    if event_type == "CasualtiesReported":
        category = rng.choice(["killed", "injured"])
        return {"figures": [{"category": category, "count": {"value": rng.randint(1, 50)}}], "description": text}
    if event_type == "PersonDetained":
        return {"person": actor(rng.randrange(ACTORS)), "reason": text}
    if event_type == "BuildingStormed":
        return {"building": "City hall", "stormed_by": "protesters", "description": text}
    return {"dispersed_by": "police", "means": ["teargas"], "description": text}


def generate(events: int, incidents: int) -> Iterator[dict[str, Any]]:
    """Events in stream order, each an envelope as the projector stores it."""
    rng = random.Random(13)
    words, where = vocabulary(rng), places()
    countries = list(COUNTRIES)
    types = [name for name, weight in MIX for _ in range(weight)]
    start = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    span_s = (datetime(YEARS[1], 1, 1, tzinfo=UTC) - start).total_seconds()
    recorded = datetime(2025, 1, 1, tzinfo=UTC)
    for seq in range(1, events + 1):
        incident = rng.randrange(incidents)
        event_type = rng.choice(types)
        source_name, source_kind = rng.choice(SOURCES)
        yield {
            "seq": seq,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": event_type,
            "schema_version": payload_class(event_type).schema_version,
            "incident_id": f"bench-incident-{incident}",
            "occurred_at": (start + timedelta(seconds=rng.uniform(0, span_s))).isoformat(),
            "occurred_precision": "minute",
            "reported_at": None,
            "recorded_at": (recorded + timedelta(milliseconds=seq)).isoformat(),
            "source": {"name": source_name, "kind": source_kind},
            "location": rng.choice(where[countries[incident % len(countries)]]),
            # Validated (and upcast to the current version): a row the projector could not have written would
            # fail the reads, not measure them.
            "data": parse_payload(event_type, 1, payload(event_type, rng, words)).model_dump(mode="json"),
            "correlation_id": None,
        }


def fill(url: str, events: int, incidents: int) -> float:
    """COPY the events into the read models in the projector's shapes; returns events/s."""
    began = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        # event_log's secondary indexes are built once after the COPY, not row by row during it
        indexes = cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'event_log'"
            " AND indexname NOT LIKE '%%pkey' AND indexname NOT LIKE '%%_key'"
        ).fetchall()
        for name, _ in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        mentions: list[tuple[Any, ...]] = []
        with cur.copy(f"COPY event_log ({EVENT_LOG_COLUMNS}) FROM STDIN") as log:
            for e in generate(events, incidents):
                seq = e.pop("seq")
                log.write_row(
                    (
                        seq,
                        e["event_id"],
                        f"crisis.events.{e['incident_id']}.{e['type']}",
                        e["type"],
                        1,
                        e["incident_id"],
                        e["occurred_at"],
                        None,
                        e["recorded_at"],
                        e["source"]["name"],
                        e["source"]["kind"],
                        None,
                        json.dumps(e),
                    )
                )
                for field in ("speaker", "person"):
                    if field in e["data"]:
                        ref = e["data"][field]
                        row = (e["event_id"], ref["id"], field, e["incident_id"], e["type"], ref["name"], ref["kind"])
                        mentions.append((*row, e["occurred_at"], e["recorded_at"], seq))
        with cur.copy(
            "COPY actor_mentions (event_id, actor_id, field, incident_id, event_type, name, kind, occurred_at,"
            " recorded_at, stream_seq) FROM STDIN"
        ) as copy:
            for mention in mentions:
                copy.write_row(mention)
        cur.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cur.execute(definition.encode())
        # casualty_figures from the log just written: one figure per report, in the projector's columns
        cur.execute(
            """
            INSERT INTO casualty_figures (event_id, figure_index, version_of, incident_id, type, category, value,
                                          lower_bound, upper_bound, source, occurred_at, recorded_at, stream_seq)
            SELECT event_id, 0, event_id, incident_id, type, envelope #>> '{data,figures,0,category}',
                   (envelope #>> '{data,figures,0,count,value}')::int,
                   (envelope #>> '{data,figures,0,count,value}')::int,
                   (envelope #>> '{data,figures,0,count,value}')::int,
                   envelope -> 'source', occurred_at, recorded_at, stream_seq
            FROM event_log WHERE type = 'CasualtiesReported'
            """
        )
        cur.execute(
            """
            INSERT INTO incidents (incident_id, title, status, event_count, first_occurred_at, last_occurred_at,
                                   last_position, updated_at)
            SELECT incident_id, incident_id, 'developing', count(*), min(occurred_at), max(occurred_at),
                   max(stream_seq), now()
            FROM event_log GROUP BY incident_id
            """
        )
        for projection in PROJECTIONS:
            cur.execute(
                "INSERT INTO projection_checkpoints (projection, last_seq) VALUES (%s, %s)", (projection, events)
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return events / (time.perf_counter() - began)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


@dataclass(frozen=True)
class Load:
    latencies_ms: list[float]
    seconds: float

    def line(self, name: str) -> str:
        p50, p99 = percentile(self.latencies_ms, 0.5), percentile(self.latencies_ms, 0.99)
        return f"{name} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {len(self.latencies_ms) / self.seconds:6.1f} req/s"


async def under_load(readers: int, requests: int, one: Callable[[int], Awaitable[None]]) -> Load:
    """`requests` calls of `one(i)` by `readers` concurrent workers: each call's latency, and the whole run's."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            began = time.perf_counter()
            await one(i)
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(readers)))
    return Load(latencies, time.perf_counter() - began)


Statements = list[tuple[sql.Composed, dict[str, Any]]]
Case = tuple[str, Callable[[int], dict[str, Any]], Callable[[dict[str, Any]], Statements]]


def cases() -> list[Case]:
    """(name, the i-th request's query parameters, the statements behind it with their parameters)."""
    countries, words = list(COUNTRIES), vocabulary(random.Random(13))

    def filtered(i: int) -> dict[str, Any]:
        year = YEARS[0] + i % (YEARS[1] - YEARS[0])
        return {
            "country": countries[i % len(countries)],
            "type": "ProtestReported",
            "occurred_from": f"{year}-03-01T00:00:00Z",
            "occurred_to": f"{year}-09-01T00:00:00Z",
            "limit": 50,
        }

    def search(i: int) -> dict[str, Any]:
        return {"q": words[(i * 7919) % len(words)], "limit": 50}

    def weekly(i: int) -> dict[str, Any]:
        year = YEARS[0] + i % (YEARS[1] - YEARS[0])
        country = countries[i % len(countries)]
        return {"country": country, "interval": "week", "occurred_from": f"{year}-01-01T00:00:00Z",
                "occurred_to": f"{year + 1}-01-01T00:00:00Z"}  # fmt: skip

    def selection(params: dict[str, Any]) -> Selection:
        return Selection(
            country=params.get("country"),
            types=[params["type"]] if "type" in params else [],
            occurred_from=datetime.fromisoformat(params["occurred_from"]) if "occurred_from" in params else None,
            occurred_to=datetime.fromisoformat(params["occurred_to"]) if "occurred_to" in params else None,
            text=params.get("q"),
        )

    def page_sql(params: dict[str, Any]) -> Statements:
        sort: search_views.Sort = "relevance" if "q" in params else "occurred_at"
        return [search_views.hits_query(selection(params), sort, after=None, limit=51)]

    def trend_sql(params: dict[str, Any]) -> Statements:
        """The counts, then the casualty figures to fold."""
        chosen = selection(params)
        first, last = chosen.occurred_from, chosen.occurred_to
        extra = {"first": first, "last": (last or first) - timedelta(microseconds=1)}  # type: ignore[operator]
        values = trend_views.params(chosen, "week")
        return [(trend_views.counts_query(chosen, None), {**values, **extra}),
                (trend_views.figures_query(chosen, None), values)]  # fmt: skip

    return [("filtered /v1/events page", filtered, page_sql), ("q search", search, page_sql),
            ("weekly trends, one country, a year", weekly, trend_sql)]  # fmt: skip


def readers_client(base_url: str, retries: Retries, headers: Sequence[tuple[str, str]] = ()) -> LeanPool:
    """Connections for one phase, one per reader: a connection kept idle past uvicorn's keep-alive (5 s, as between
    two phases) is closed by the server, and would have to be opened again. The lean client, as `crisis bench`
    reads: httpx cost this process about 2.6 ms of CPU a read (the lean one 0.07 ms), on the same 2 cores as the
    service, and held the constant body to about 350 req/s."""
    return LeanPool(base_url, None, retries, headers)


NO_CACHE = [("Cache-Control", "no-cache")]  # past the query service's answer cache: every read computed


async def counted(statuses: Counter[int | str], request: Awaitable[Answer]) -> None:
    """One read's answer counted by status, or its failure by name: one read fails, not the run."""
    try:
        statuses[(await request).status] += 1  # 503: no connection within the query's timeout
    except (*FAILURES, TimeoutError) as error:  # the connection dropped on every attempt, or no answer in time
        statuses[type(error).__name__] += 1


async def measure(
    base_url: str, url: str, readers: int, requests: int, workdir: Path, query: subprocess.Popen[bytes]
) -> list[str]:
    """Each read under load, beside two raw limits of the same machine: its SQL statement straight through psycopg,
    and the same HTTP stack (FastAPI on uvicorn, one worker, as the query service) answering a constant body of the
    read's own size: on 2 shared cores 50 closed-loop readers queue, and that queue is the ceiling."""
    lines = []
    statuses: Counter[int | str] = Counter()
    retries = Retries()
    async with AsyncConnectionPool(url, min_size=10, max_size=10, open=False) as pool:
        for name, params_of, statement in cases():
            route = "/v1/trends" if "interval" in params_of(0) else "/v1/events"
            async with readers_client(base_url, retries, NO_CACHE) as client:

                async def cold(
                    i: int, client: LeanPool = client, route: str = route, params_of: Any = params_of
                ) -> None:
                    await counted(statuses, client.get(route, params_of(i)))

                computed = await under_load(readers, requests, cold)  # each read computed: the cache is bypassed
            async with readers_client(base_url, retries) as client:

                async def http(
                    i: int, client: LeanPool = client, route: str = route, params_of: Any = params_of
                ) -> None:
                    await counted(statuses, client.get(route, params_of(i)))

                await under_load(readers, readers, http)  # warm up
                statuses.clear()
                retries.count = 0
                project = await under_load(readers, requests, http)
                project_retries = retries.count
                body = (await client.get(route, params_of(0))).body
            if query.poll() is not None:
                raise RuntimeError(f"the query service exited with code {query.returncode} during {name}")

            async def raw(i: int, params_of: Any = params_of, statement: Any = statement) -> None:
                async with pool.connection() as conn:
                    for query, params in statement(params_of(i)):
                        await (await conn.execute(query, params)).fetchall()

            await under_load(readers, readers, raw)  # warm up
            limit = await under_load(readers, requests, raw)
            constant = await constant_body_load(body, route, params_of, readers, requests, workdir)
            p99, constant_p99 = percentile(project.latencies_ms, 0.99), percentile(constant.latencies_ms, 0.99)
            lines.append(
                f"{name}\n  {project.line('project      ')} | answers {dict(statuses)}, {project_retries} retried\n"
                f"  {computed.line('no-cache     ')}\n"
                f"  {limit.line('raw SQL      ')}\n  {constant.line('constant body')} ({len(body):,} bytes)\n"
                f"  project / constant body: p99 x{p99 / constant_p99:.1f},"
                f" req/s x{constant.seconds / project.seconds:.2f}"
            )
            print(lines[-1], flush=True)
    return lines


async def constant_body_load(
    body: bytes, route: str, params_of: Callable[[int], dict[str, Any]], readers: int, requests: int, workdir: Path
) -> Load:
    """The same readers, sending the same requests, against the query service's HTTP stack answering `body` to
    every request."""
    with constant_server(body, workdir) as constant:
        await constant.ready("/")
        async with readers_client(constant.url, Retries()) as client:

            async def get(i: int) -> None:
                if (answer := await client.get(route, params_of(i))).status != 200:
                    raise RuntimeError(f"{answer.request}: {answer.status}")

            await under_load(readers, readers, get)  # warm up
            return await under_load(readers, requests, get)


async def export(base_url: str, url: str, pid: int, country: str) -> str:
    """A CSV and an NDJSON export of a country (every event): rows/s and the query process's RSS, each against a
    server-side cursor reading the export's own statement, planned as the export plans it."""
    process = psutil.Process(pid)
    mib = 1024 * 1024
    measured = []
    chosen = Selection(country=country)
    for name, headers, query in (
        ("csv", 2, export_views.csv_query(chosen)),  # the CSV's header and hashtag rows
        ("ndjson", 0, export_views.ndjson_query(chosen)),
    ):
        rss = [process.memory_info().rss]
        lines = 0
        began = time.perf_counter()
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=600) as client,
            client.stream("GET", f"/v1/export.{name}", params={"country": country}) as response,
        ):
            async for _ in response.aiter_lines():
                lines += 1
                if lines % 5000 == 0:
                    rss.append(process.memory_info().rss)
        seconds = time.perf_counter() - began
        began = time.perf_counter()
        fetched = 0
        async with (
            await psycopg.AsyncConnection.connect(url) as conn,
            conn.transaction(),
            conn.cursor(name="raw_export") as cur,
        ):
            for setting in EXPORT_PLANNER:
                await conn.execute(setting)
            await cur.execute(query, chosen.params())
            while batch := await cur.fetchmany(2000):
                fetched += len(batch)
        measured.append((name, lines - headers, seconds, rss, fetched / (time.perf_counter() - began)))
    return "\n".join(
        f"{name.upper()} export of {rows} rows: {rows / seconds:,.0f} rows/s, query RSS {rss[0] / mib:.0f} -> "
        f"{max(rss) / mib:.0f} MiB (last {rss[-1] / mib:.0f}) | raw server-side cursor {raw:,.0f} rows/s | ratio "
        f"{rows / seconds / raw:.2f}"
        for name, rows, seconds, rss, raw in measured
    )


# What an export sets for its statement (services/query/heavy_reads.py `chunks`)
EXPORT_PLANNER = [
    "SET LOCAL cursor_tuple_fraction = 1",
    f"SET LOCAL random_page_cost = {export_views.RANDOM_PAGE_COST}",
]


def explain(url: str) -> None:
    with psycopg.connect(url) as conn:
        for name, params_of, statement in cases():
            for query, params in statement(params_of(1)):
                plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + query, params).fetchall()
                print(f"\n--- EXPLAIN {name} {params_of(1)}\n" + "\n".join(row[0] for row in plan))
        chosen = Selection(country="BY")
        with conn.transaction():
            for setting in EXPORT_PLANNER:
                conn.execute(setting)
            for name, query in (("CSV", export_views.csv_query(chosen)), ("NDJSON", export_views.ndjson_query(chosen))):
                plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + query, chosen.params()).fetchall()
                print(f"\n--- EXPLAIN {name} export {{'country': 'BY'}}\n" + "\n".join(row[0] for row in plan))


QUERY_SERVICE = """
import uvicorn
from services.common.settings import Settings
from services.query.app import create_app
settings = Settings()
uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.query_port, log_config=None)
"""


def start_query(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CRISIS_DATABASE_URL": url, "CRISIS_QUERY_PORT": str(port), "CRISIS_DATA_DIR": str(data_dir)}
    env.pop("CRISIS_NATS_URL", None)  # no NATS here: `crisis query` would look for one; this is what it runs
    process = subprocess.Popen([sys.executable, "-c", QUERY_SERVICE], env=env, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base_url}/readyz").status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the query service did not become ready")
        time.sleep(0.2)  # polling a starting process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--requests", type=int, default=500, help="requests per measured read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="analysts-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        pg.start()
        try:
            url = pg.admin_url("postgres")
            migrate(url)
            rate = fill(url, args.events, args.incidents)
            print(f"filled {args.events} events over {args.incidents} incidents by COPY: {rate:,.0f} events/s")
            explain(url)
            process, base_url = start_query(url, Path(tmp))
            try:
                print(f"\n{args.readers} concurrent readers, {args.requests} requests each read:")
                asyncio.run(measure(base_url, url, args.readers, args.requests, Path(tmp), process))
                print(asyncio.run(export(base_url, url, process.pid, "KG")))
            finally:
                process.terminate()
                process.wait(10)
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
