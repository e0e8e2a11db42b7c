"""Catch-up of every read model from sequence 1, against plain nats-py fetch(500) + ack of the same stream.

    python -m benchmarks.catchup [--events 20000] [--rounds 3] [--mix simple|demo]

Starts its own embedded nats-server and PostgreSQL in a temp dir, publishes the events once, then per round:
the raw limit (a fresh consumer fetching 500 at a time and acking each message, no other work) and the project's
figure (a fresh database, an in-process projector from sequence 1 until every checkpoint reaches the end).
Prints the medians, and the median of the rounds' ratios (each round's two figures are measured back to back, so
a slow moment of a loaded machine slows both). `--mix demo` publishes what `crisis bench` does: copies of the
demo scenarios, corrections, retractions and links included (handlers that run per event); `simple` (the
default) only types written set-based.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psycopg
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from schemas.catalogue import payload_class
from schemas.envelope import Event, event_class
from schemas.subjects import STREAM_NAME
from services.cli.bench.workload import Mix, submissions
from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import ensure_stream
from services.common.logging import configure_logging
from services.common.settings import Settings
from services.projector.app import create_app as create_projector
from services.projector.migrate import migrate
from tests.factories import make_event, publish_args
from tests.waiting import wait_until

MIX = ("StatementIssued", "StatementIssued", "CasualtiesReported", "ResultsAnnulled", "StatementIssued")


def fresh_database(pg: EmbeddedPostgres) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.admin_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg.admin_url(name)
    migrate(url)
    return url


def simple_events(count: int, incidents: int = 100) -> list[Event[Any]]:
    ids = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(incidents)]
    return [make_event(ids[i % incidents], MIX[i % len(MIX)], minute=i % 5000) for i in range(count)]


def demo_events(count: int, incidents: int = 10) -> list[Event[Any]]:
    recorded = datetime.now(UTC)
    return [
        event_class(payload_class(s["type"])).model_validate({**s, "recorded_at": recorded})
        for s in submissions(Mix.demo, count, incidents)
    ]


async def publish(nc: Client, events: list[Event[Any]]) -> int:
    js = nc.jetstream(publish_async_max_pending=4000)
    futures = [await js.publish_async(**publish_args(event)) for event in events]  # in order: targets first
    return max(ack.seq for ack in await asyncio.gather(*futures))


async def raw_fetch(nc: Client, count: int) -> float:
    js = nc.jetstream()
    name = f"raw-{uuid.uuid4().hex[:8]}"
    await js.add_consumer(STREAM_NAME, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT))
    sub = await js.pull_subscribe_bind(name, stream=STREAM_NAME)
    started, seen = time.perf_counter(), 0
    while seen < count:
        for msg in await sub.fetch(500, timeout=5):
            await msg.ack()
            seen += 1
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    await js.delete_consumer(STREAM_NAME, name)
    return count / elapsed


async def catch_up(settings: Settings, last_seq: int, count: int) -> float:
    async with await psycopg.AsyncConnection.connect(settings.database_url or "", autocommit=True) as conn:

        async def lowest() -> int:
            row = await (await conn.execute("SELECT coalesce(min(last_seq), 0) FROM projection_checkpoints")).fetchone()
            return int(row[0]) if row else 0

        started = time.perf_counter()
        async with LifespanManager(create_projector(settings), startup_timeout=30):
            await wait_until(lowest, lambda seq: seq >= last_seq, within=1200, what="the catch-up")
            return count / (time.perf_counter() - started)


async def run(events: int, rounds: int, mix: str, workdir: Path) -> None:
    with EmbeddedNats(workdir / "nats") as nats_server, EmbeddedPostgres(workdir / "pg") as pg:
        nc = await nats.connect(nats_server.url)
        await ensure_stream(nc, Settings(nats_url=nats_server.url))
        last_seq = await publish(nc, demo_events(events) if mix == "demo" else simple_events(events))
        raw, ours = [], []
        for _ in range(rounds):
            raw.append(await raw_fetch(nc, events))
            settings = Settings(nats_url=nats_server.url, database_url=fresh_database(pg), log_level="WARNING")
            cpu_before = time.process_time()
            ours.append(await catch_up(settings, last_seq, events))
            print(
                f"round: raw {raw[-1]:,.0f}/s, catch-up {ours[-1]:,.0f}/s in {events / ours[-1]:.1f} s, "
                f"ratio {ours[-1] / raw[-1]:.2f} "
                f"(projector CPU {time.process_time() - cpu_before:.1f} s: more than that is waiting)",
                flush=True,
            )
        await nc.close()
    mine, limit = statistics.median(ours), statistics.median(raw)
    ratio = statistics.median(o / r for o, r in zip(ours, raw, strict=True))
    print(f"\n{events} events x {rounds} rounds, medians")
    print(f"catch-up into every read model {mine:>8,.0f} events/s   raw fetch(500)+ack {limit:>8,.0f} msg/s   "
          f"ratio {ratio:.2f} (median of the rounds' ratios; of the medians {mine / limit:.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mix", choices=("simple", "demo"), default="simple")
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="crisis-catchup-") as workdir:
        asyncio.run(run(args.events, args.rounds, args.mix, Path(workdir)))


if __name__ == "__main__":
    main()
