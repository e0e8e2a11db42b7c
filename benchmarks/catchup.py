"""Catch-up of every read model from sequence 1, against plain nats-py fetch(500) + ack of the same stream.

    python -m benchmarks.catchup [--events 20000] [--rounds 3] [--mix simple|demo] [--every N]

Starts its own embedded nats-server and PostgreSQL in a temp dir and publishes the events once: in windows of
`publish_async`, on a server that fsyncs lazily (loading only), which is then restarted on the same store with
fsync before every ack, as the project runs it. Then per round: the raw limit (a fresh consumer fetching 500 at a
time and acking each message, no other work) and the project's figure: a fresh database and `crisis projector`
as a child process, started as `crisis bench` starts it, timed from its /healthz answering until every checkpoint
reaches the end. While it catches up, the bench samples its checkpoint, the projector process's RSS and CPU time
and PostgreSQL's CPU time (all its processes) every POLL_S, and prints the rate over the first 10k, 100k and 1M
events (cumulative) and over each `--every` events (default a tenth of the stream, to show whether the rate
degrades), with both CPU times per event and the RSS at each mark and the peak, then PostgreSQL's CPU by process.
Prints the medians, and the median of the rounds' ratios (each round's two figures are measured back to back, so
a slow moment of a loaded machine slows both). `--mix demo` publishes what `crisis bench` does: copies of the
demo scenarios, corrections, retractions and links included (handlers that run per event); `simple` (the
default) only types written set-based.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psutil
import psycopg
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from schemas.catalogue import payload_class
from schemas.envelope import Event, event_class
from schemas.subjects import STREAM_NAME
from services.cli.bench.errors import BenchFailed
from services.cli.bench.servers import Child, api_token, fresh_database, service
from services.cli.bench.workload import Mix, submissions
from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import EventStream, ensure_stream
from services.common.logging import configure_logging
from services.common.settings import Settings
from tests.factories import make_event, publish_args

MIX = ("StatementIssued", "StatementIssued", "CasualtiesReported", "ResultsAnnulled", "StatementIssued")
WINDOW = 10_000  # events generated and in flight at once: a million would not fit in memory as models
CUMULATIVE_MARKS = (10_000, 100_000, 1_000_000)
POLL_S = 0.1


def simple_events(start: int, stop: int, ids: list[str]) -> list[Event[Any]]:
    return [make_event(ids[i % len(ids)], MIX[i % len(MIX)], minute=i % 5000) for i in range(start, stop)]


def demo_events(count: int, incidents: int = 10) -> list[Event[Any]]:
    recorded = datetime.now(UTC)
    return [
        event_class(payload_class(s["type"])).model_validate({**s, "recorded_at": recorded})
        for s in submissions(Mix.demo, count, incidents)
    ]


def windows(mix: str, count: int) -> Iterator[list[Event[Any]]]:
    """The events in windows of WINDOW; a demo window is copies of the scenarios, so a cut copy's tail (its
    corrections and links included) is left out whole, never its targets."""
    ids = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(100)]
    for start in range(0, count, WINDOW):
        stop = min(count, start + WINDOW)
        yield demo_events(stop - start) if mix == "demo" else simple_events(start, stop, ids)


async def publish(nc: Client, mix: str, count: int) -> int:
    js = nc.jetstream(publish_async_max_pending=WINDOW + 1)
    last_seq = 0
    for window in windows(mix, count):
        futures = [await js.publish_async(**publish_args(event)) for event in window]  # in order: targets first
        last_seq = max(ack.seq for ack in await asyncio.gather(*futures))
    return last_seq


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the start of the measurement
    events: int  # done by then
    rss_mb: float | None = None  # the projector's, at that moment
    cpu_s: float = 0.0  # the projector's CPU time since the start, user and system
    pg_cpu_s: float = 0.0  # PostgreSQL's (every process of the server, autovacuum included) since the start


def crossed(samples: list[Sample], mark: int) -> Sample:
    """When `mark` events were done: interpolated between the samples either side (the checkpoint moves a batch
    at a time, a poll apart), with the RSS of the sample past it."""
    after = next(i for i, s in enumerate(samples) if s.events >= mark)
    before, past = samples[max(0, after - 1)], samples[after]
    share = (mark - before.events) / (past.events - before.events) if past.events > before.events else 1.0
    seconds = before.seconds + share * (past.seconds - before.seconds)
    cpu_s = before.cpu_s + share * (past.cpu_s - before.cpu_s)
    return Sample(seconds, mark, past.rss_mb, cpu_s, before.pg_cpu_s + share * (past.pg_cpu_s - before.pg_cpu_s))


def rate(first: Sample, last: Sample) -> float:
    return (last.events - first.events) / (last.seconds - first.seconds)


def cpu_ms_per_event(first: Sample, last: Sample) -> float:
    """The projector's own work per event, whatever the machine's load: a rate that falls while this stays flat
    waited (for a CPU, for PostgreSQL) rather than worked more."""
    return 1000 * (last.cpu_s - first.cpu_s) / (last.events - first.events)


def pg_ms_per_event(first: Sample, last: Sample) -> float:
    """PostgreSQL's work per event: what grows here as the tables grow is the database's side of a slowing rate."""
    return 1000 * (last.pg_cpu_s - first.pg_cpu_s) / (last.events - first.events)


def server_cpu_by_process(server: psutil.Process) -> dict[str, float]:
    """A server's CPU time by process kind ("autovacuum worker", ...); "exited" is what its reaped children used
    (the postmaster reaps its closed connections' backends and its finished autovacuum workers)."""
    own = server.cpu_times()
    kinds = {"postmaster": own.user + own.system, "exited": own.children_user + own.children_system}
    for child in server.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            kind = process_kind(child)
            kinds[kind] = kinds.get(kind, 0.0) + sum(child.cpu_times()[:2])
    return kinds


def process_kind(process: psutil.Process) -> str:
    """What a PostgreSQL process's title says it is ("walwriter", "autovacuum worker", a backend's user, database
    and client), cut short."""
    return " ".join(process.cmdline()[:3]).removeprefix("postgres: ")[:40]


def cpu_used_since(before: dict[str, float], after: dict[str, float]) -> list[tuple[str, float]]:
    """Each kind's CPU seconds between two readings of `server_cpu_by_process`, largest first."""
    used = {kind: seconds - before.get(kind, 0.0) for kind, seconds in after.items()}
    return sorted(used.items(), key=lambda item: -item[1])


def server_cpu_s(server: psutil.Process) -> float:
    """CPU time of a server and all its processes, live or exited."""
    return sum(server_cpu_by_process(server).values())


async def raw_fetch(nc: Client, count: int) -> list[Sample]:
    js = nc.jetstream()
    name = f"raw-{uuid.uuid4().hex[:8]}"
    await js.add_consumer(STREAM_NAME, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT))
    sub = await js.pull_subscribe_bind(name, stream=STREAM_NAME)
    started, seen, samples = time.perf_counter(), 0, [Sample(0.0, 0)]
    while seen < count:
        for msg in await sub.fetch(500, timeout=5):
            await msg.ack()
            seen += 1
        samples.append(Sample(time.perf_counter() - started, seen))
    await sub.unsubscribe()
    await js.delete_consumer(STREAM_NAME, name)
    return samples


async def catch_up(projector: Child, database: psutil.Process, database_url: str, count: int) -> list[Sample]:
    """Samples of the projector's checkpoint, RSS and CPU time, and of the database's CPU time, until it reaches
    `count` (the stream starts at 1)."""
    process = psutil.Process(projector.process.pid)
    cpu_before, pg_before = sum(process.cpu_times()[:2]), server_cpu_s(database)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        started, samples = time.perf_counter(), [Sample(0.0, 0)]
        while samples[-1].events < count:
            await asyncio.sleep(POLL_S)
            if projector.process.poll() is not None:
                raise BenchFailed(f"the projector exited with code {projector.process.returncode}: see its log")
            row = await (await conn.execute("SELECT coalesce(min(last_seq), 0) FROM projection_checkpoints")).fetchone()
            rss, cpu = process.memory_info().rss / 2**20, sum(process.cpu_times()[:2]) - cpu_before
            pg_cpu = server_cpu_s(database) - pg_before
            samples.append(Sample(time.perf_counter() - started, int(row[0]) if row else 0, rss, cpu, pg_cpu))
    return samples


def marks_table(ours: list[Sample], raw: list[Sample], count: int, every: int) -> str:
    lines = [f"  {'events':<26}{'catch-up/s':>12}{'raw/s':>10}{'CPU ms/event':>14}{'PG ms/event':>13}{'RSS MB':>9}"]
    for mark in [m for m in CUMULATIVE_MARKS if m < count] + [count]:
        reached = crossed(ours, mark)
        lines.append(f"  {f'first {mark:,}':<26}{rate(ours[0], reached):>12,.0f}"
                     f"{rate(raw[0], crossed(raw, mark)):>10,.0f}{cpu_ms_per_event(ours[0], reached):>14.3f}"
                     f"{pg_ms_per_event(ours[0], reached):>13.3f}{reached.rss_mb or 0:>9.1f}")  # fmt: skip
    ends = [*range(every, count, every), count]
    for start, end in zip([0, *ends], ends, strict=False):
        first, last = crossed(ours, start), crossed(ours, end)
        lines.append(f"  {f'{start + 1:,}-{end:,}':<26}{rate(first, last):>12,.0f}{'':>10}"
                     f"{cpu_ms_per_event(first, last):>14.3f}{pg_ms_per_event(first, last):>13.3f}"
                     f"{last.rss_mb or 0:>9.1f}")  # fmt: skip
    return "\n".join(lines)


async def run(events: int, rounds: int, mix: str, every: int, workdir: Path) -> None:
    with EmbeddedNats(workdir / "nats", sync_always=False) as loading:
        nc = await nats.connect(loading.url)
        await ensure_stream(nc, Settings(nats_url=loading.url))
        started = time.perf_counter()
        last_seq = await publish(nc, mix, events)
        print(f"published {last_seq:,} events in {time.perf_counter() - started:.0f} s (fsync relaxed)", flush=True)
        await nc.close()
    _, tokens = api_token()
    with EmbeddedNats(workdir / "nats") as nats_server, EmbeddedPostgres(workdir / "pg") as pg:
        nc = await nats.connect(nats_server.url)
        raw, ours, peaks = [], [], []
        for _ in range(rounds):
            raw_samples = await raw_fetch(nc, last_seq)
            raw.append(last_seq / raw_samples[-1].seconds)
            with (
                fresh_database(pg.url) as database_url,
                service("projector", nats_server.url, EventStream(), database_url, tokens, workdir) as projector,
            ):
                await projector.ready("/healthz")
                cpu_before, database = projector.cpu_seconds() or 0.0, psutil.Process(pg.pid)
                pg_before = server_cpu_by_process(database)
                samples = await catch_up(projector, database, database_url, last_seq)
                cpu, peak = (projector.cpu_seconds() or 0.0) - cpu_before, projector.peak_rss_mb() or 0.0
                pg_used = cpu_used_since(pg_before, server_cpu_by_process(database))
            ours.append(last_seq / samples[-1].seconds)
            peaks.append(peak)
            print(
                f"round: raw {raw[-1]:,.0f}/s, catch-up {ours[-1]:,.0f}/s in {samples[-1].seconds:.1f} s, "
                f"ratio {ours[-1] / raw[-1]:.2f} (projector CPU {cpu:.1f} s: more than that is waiting), "
                f"projector peak RSS {peak:.1f} MB (VmHWM; sampled {max(s.rss_mb or 0 for s in samples):.1f})\n"
                + marks_table(samples, raw_samples, last_seq, every)
                + "\n  PostgreSQL's CPU, s: "
                + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in pg_used if seconds >= 0.05),
                flush=True,
            )
        await nc.close()
    mine, limit = statistics.median(ours), statistics.median(raw)
    ratio = statistics.median(o / r for o, r in zip(ours, raw, strict=True))
    print(f"\n{last_seq} events x {rounds} rounds, medians")
    print(f"catch-up into every read model {mine:>8,.0f} events/s   raw fetch(500)+ack {limit:>8,.0f} msg/s   "
          f"ratio {ratio:.2f} (median of the rounds' ratios; of the medians {mine / limit:.2f})   "
          f"projector peak RSS {statistics.median(peaks):.1f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mix", choices=("simple", "demo"), default="simple")
    parser.add_argument("--every", type=int, help="events per interval of the rates (default: a tenth of --events)")
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="crisis-catchup-") as workdir:
        asyncio.run(run(args.events, args.rounds, args.mix, args.every or max(1, args.events // 10), Path(workdir)))


if __name__ == "__main__":
    main()
