"""Throughput of the pipeline against the raw limits of the same machine, measured in the same run.

    python -m benchmarks.pipeline [--events 5000] [--rounds 3]

Starts its own embedded nats-server (fsync before ack, as `crisis up` runs it) and PostgreSQL in a temp dir and
prints, per stage, the median over the rounds of our figure, the raw limit, and their ratio:

- ingest: events/s accepted by `POST /v1/events/batch` (500 a request, real uvicorn over loopback) against plain
  nats-py `publish_async` of the same payloads to a stream on the same server;
- projector: events/s from the stream into both read models (ack after commit) against a plain COPY of the same
  rows into an unindexed table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
from asgi_lifespan import LifespanManager
from nats.js.api import StreamConfig

from schemas.subjects import STREAM_NAME
from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import ensure_stream
from services.common.ports import free_port
from services.common.settings import Settings
from services.projector.app import create_app as create_projector
from services.projector.migrate import migrate
from tests.factories import make_event
from tests.waiting import wait_until

BATCH = 500
TOKEN = "bench:" + "b" * 32


def submissions(count: int) -> list[dict[str, Any]]:
    incident = f"bench-{uuid.uuid4().hex[:8]}"
    events = [make_event(incident, minute=i % 1440).model_dump(mode="json") for i in range(count)]
    for event in events:
        del event["recorded_at"], event["recorded_by"], event["event_id"]
    return events


async def raw_publish(nats_url: str, payloads: list[bytes]) -> float:
    nc = await nats.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=4000)
    stream = f"RAW_{uuid.uuid4().hex[:8]}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    started = time.perf_counter()
    futures = [await js.publish_async(f"{stream}.x", p, headers={"Nats-Msg-Id": str(uuid.uuid4())}) for p in payloads]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await js.delete_stream(stream)
    await nc.close()
    return len(payloads) / elapsed


def ingest_rate(ingest_url: str, events: list[dict[str, Any]]) -> float:
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for i in range(0, len(events), BATCH):
            response = client.post(
                f"{ingest_url}/v1/events/batch",
                json={"events": events[i : i + BATCH]},
                headers={"Authorization": f"Bearer {TOKEN.partition(':')[2]}"},
            )
            response.raise_for_status()
        return len(events) / (time.perf_counter() - started)


def raw_copy(database_url: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(database_url) as conn:
        table = f"raw_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE TABLE {table} (seq bigint, event_id uuid, subject text, envelope jsonb)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return len(rows) / elapsed


async def projector_rate(settings: Settings, last_seq: int, count: int) -> float:
    async def position() -> int:
        async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
            cur = await conn.execute("SELECT coalesce(min(last_seq), 0) FROM projection_checkpoints")
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    started = time.perf_counter()
    async with LifespanManager(create_projector(settings), startup_timeout=30):
        await wait_until(position, lambda seq: seq >= last_seq, within=600, what="the projection")
        return count / (time.perf_counter() - started)


def fresh_database(pg: EmbeddedPostgres) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.admin_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg.admin_url(name)
    migrate(url)
    return url


def report(stage: str, unit: str, ours: list[float], raw: list[float], raw_name: str) -> None:
    mine, limit = statistics.median(ours), statistics.median(raw)
    print(f"{stage:<10} {mine:>10,.0f} {unit}   {raw_name:<32} {limit:>10,.0f} {unit}   ratio {mine / limit:.2f}")


async def run(events: int, rounds: int, workdir: Path) -> None:
    with EmbeddedNats(workdir / "nats") as nats_server, EmbeddedPostgres(workdir / "pg") as pg:
        nc = await nats.connect(nats_server.url)
        await ensure_stream(nc, Settings(nats_url=nats_server.url))
        js = nc.jetstream()
        ingest_port = free_port()
        env = os.environ | {"CRISIS_NATS_URL": nats_server.url, "CRISIS_DATABASE_URL": pg.url,
                            "CRISIS_API_TOKENS": TOKEN, "CRISIS_INGEST_PORT": str(ingest_port),
                            "CRISIS_EVENT_ID_SECRET": secrets.token_urlsafe(32),
                            "CRISIS_LOG_LEVEL": "WARNING"}  # fmt: skip
        # A real server process, started once before anything is timed.
        ingest = subprocess.Popen([sys.executable, "-m", "services", "ingest"], env=env)  # noqa: ASYNC220
        ingest_url = f"http://127.0.0.1:{ingest_port}"
        try:
            await wait_until(lambda: ready(f"{ingest_url}/readyz"), bool, within=30, what="ingest")
            ours_in, raw_in, ours_proj, raw_proj = [], [], [], []
            for _ in range(rounds):
                batch = submissions(events)
                payloads = [httpx.Request("POST", "/", json=e).content for e in batch]
                raw_in.append(await raw_publish(nats_server.url, payloads))
                await js.purge_stream(STREAM_NAME)
                ours_in.append(ingest_rate(ingest_url, batch))
                last_seq = (await js.stream_info(STREAM_NAME)).state.last_seq
                rows = [(i, uuid.uuid4(), "s", p.decode()) for i, p in enumerate(payloads)]
                raw_proj.append(raw_copy(pg.url, rows))
                settings = Settings(nats_url=nats_server.url, database_url=fresh_database(pg), log_level="WARNING")
                ours_proj.append(await projector_rate(settings, last_seq, events))
                for consumer in await js.consumers_info(STREAM_NAME):
                    await js.delete_consumer(STREAM_NAME, consumer.name)
        finally:
            ingest.terminate()
            ingest.wait()
            await nc.close()
    print(f"\n{events} events x {rounds} rounds, medians (nats-server fsyncs before every ack)")
    report("ingest", "events/s", ours_in, raw_in, "raw nats-py publish_async")
    report("projector", "events/s", ours_proj, raw_proj, "raw COPY into one table")


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from services.common.logging import configure_logging

    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="crisis-bench-") as workdir:
        asyncio.run(run(args.events, args.rounds, Path(workdir)))


if __name__ == "__main__":
    main()
