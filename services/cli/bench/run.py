"""One bench run: the servers, then rounds of every measurement, then the table and the JSON.

A round posts a fresh stream of events (batch, then single), reads it raw, projects it from sequence 1 into a
fresh database, replays it, then measures freshness and reads on the result; catch-up at the extra sizes follows.
Every figure is the median of the rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import nats
from nats.aio.client import Client
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.bench import http, project, raw
from services.cli.bench.lean_http import LeanPool
from services.cli.bench.options import BenchOptions
from services.cli.bench.partitions import copy_events, split_settings
from services.cli.bench.report import Figure, percentile, table, write_json
from services.cli.bench.servers import Child, api_token, constant_server, fresh_database, refuse_busy_stream, service
from services.cli.bench.workload import SCENARIOS, incident_name, submissions
from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import EventStream, connect_options, ensure_stream
from services.common.settings import Settings

TIMELINE_TYPE = "StatementIssued"  # the commonest type of the demo mix
# How often a fresh projector's /healthz is asked while it starts: the catch-up is timed from its first answer.
START_POLL_S = 0.005


class Figures:
    def __init__(self, options: BenchOptions) -> None:
        # The target's raw limit publishes a request's worth at a time, awaiting its acks before the next, as the
        # bench's batches go (docs/performance.md); every event in flight at once is reported beside it.
        batch_raw = f"publish_async x{project.BATCH}"
        self.batch = Figure("batch ingest", "events/s", f">= {0.8 if options.fsync else 0.5}", batch_raw)
        self.batch_all = Figure("batch ingest, all in flight", "events/s", "report", "publish_async, all in flight")
        # Ingest sends each batch request as one atomic batch: against the same done by plain nats-py.
        self.batch_atomic = Figure("batch ingest, atomic raw", "events/s", "report", f"atomic batch x{project.BATCH}")
        self.single = Figure(f"single ingest x{options.clients}", "events/s", ">= 0.5", "js.publish")
        self.single_p50 = Figure("single ingest p50", "ms", "-", "js.publish")
        self.single_p99 = Figure("single ingest p99", "ms", "-", "js.publish")
        self.catch_up = Figure("catch-up, all read models", "events/s", ">= 0.3", "fetch(500)+ack")
        if options.partitions > 1:  # the ratio is the speed-up over one projector, same events, same round
            self.partitioned = Figure(
                f"catch-up, {options.partitions} partitions", "events/s", "speed-up", "catch-up, 1 partition"
            )
            # Where the speed-up went: the cores the projector processes got, together, while catching up.
            self.partitioned_cores = Figure(
                f"catch-up CPU, {options.partitions} projectors", "cores", "report", "catch-up CPU, 1 projector"
            )
        self.replay = Figure("replay all (blue/green)", "events/s", ">= 0.8", "catch-up")
        self.fresh_p50 = Figure(f"freshness p50 @{options.fresh_per_second:.0f}/s", "ms", "< 20")
        self.fresh_p99 = Figure(f"freshness p99 @{options.fresh_per_second:.0f}/s", "ms", "< 100")
        self.timeline = Figure(f"timeline x{options.readers}", "req/s", ">= 0.5", "constant body")
        self.timeline_p99 = Figure(f"timeline p99 x{options.readers}", "ms", "< 50", "constant body")
        # The same reads past the query service's answer cache: what computing each page costs.
        self.timeline_cold = Figure(f"timeline x{options.readers} no-cache", "req/s", "report", "constant body")
        self.timeline_cold_p99 = Figure(f"timeline p99 x{options.readers} no-cache", "ms", "report", "constant body")
        self.rss = Figure("projector peak RSS", "MB", "< 300")
        self.bytes = Figure("PostgreSQL bytes per event", "bytes", "report", "bytes in stream")
        self.sizes = {
            size: Figure(f"catch-up at {size:,} events", "events/s", "within 20%", "fetch(500)+ack")
            for size in sorted({*options.sizes, options.events + options.singles})
        }

    def all(self) -> list[Figure]:
        return [f for f in vars(self).values() if isinstance(f, Figure)] + list(self.sizes.values())


@dataclass
class Context:
    options: BenchOptions
    settings: Settings  # with the NATS URL; its database_url is the server the rounds' databases are made on
    nc: Client
    ingest: Child
    token: str
    retries: http.Retries  # counted across every client of the run
    tokens: str
    workdir: Path
    progress: Progress
    split: Settings | None = None  # --partitions: the stream split that many ways, beside the bench's

    @property
    def stream(self) -> EventStream:
        return EventStream.of(self.settings)

    @property
    def nats_url(self) -> str:
        assert self.settings.nats_url is not None
        return self.settings.nats_url

    @property
    def server_url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url

    def client(self, url: str, headers: Sequence[tuple[str, str]] = ()) -> LeanPool:
        """Connections of its own for each measurement, so none is left idle by an earlier one (uvicorn closes a
        kept-alive connection after 5 s idle)."""
        return LeanPool(url, self.token, self.retries, headers)

    def phase(self, name: str) -> project.Progress:
        task = self.progress.add_task(name, total=None)

        def advance(done: int, total: int) -> None:
            self.progress.update(task, completed=done, total=total)

        return advance


def bench_stream(options: BenchOptions) -> dict[str, str]:
    """Settings naming the bench's own stream, when --stream gives one: its subjects must not overlap the event
    stream's (NATS refuses that), so they get a prefix of their own."""
    if options.stream is None:
        return {}
    return {"stream_name": options.stream, "subject_prefix": f"bench.{options.stream.lower()}.events"}


@contextmanager
def bench_servers(options: BenchOptions, settings: Settings, workdir: Path) -> Iterator[Settings]:
    """The given servers, or embedded ones in the work dir (gone with it)."""
    if options.external:
        yield settings
        return
    with (
        EmbeddedNats(workdir / "nats", sync_always=options.fsync) as nats_server,
        EmbeddedPostgres(workdir / "postgres") as postgres,
    ):
        yield settings.model_copy(update={"nats_url": nats_server.url, "database_url": postgres.url})


async def bench(options: BenchOptions, settings: Settings, console: Console) -> tuple[list[Figure], int]:
    # SIGTERM (from `timeout`, a CI runner, a service manager) stops the run as Ctrl-C does: its services and servers
    # stop and its scratch directory goes. Python's default ended the process at once and left them running. Like
    # asyncio.run's own for Ctrl-C, only on the main thread: signals are delivered there alone.
    if threading.current_thread() is threading.main_thread():
        this_run = cast(asyncio.Task[Any], asyncio.current_task())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this_run.cancel)
    figures = Figures(options)
    with tempfile.TemporaryDirectory(prefix="crisis-bench-") as scratch:
        workdir = Path(scratch)
        with bench_servers(options, settings, workdir) as servers:
            # Purged between rounds; with --stream, a stream of the bench's own beside the event stream.
            servers = servers.model_copy(update={"stream_protected": False, **bench_stream(options)})
            stream = EventStream.of(servers)
            nc = await nats.connect(**connect_options(servers, "crisis-bench") | {"max_reconnect_attempts": 0})
            async with AsyncExitStack() as stack:
                stack.push_async_callback(nc.close)
                existed = await refuse_busy_stream(nc.jetstream(), stream)
                await ensure_stream(nc, servers)
                leave = nc.jetstream().purge_stream if existed else nc.jetstream().delete_stream
                stack.push_async_callback(leave, stream.name)  # leave it as it was found
                token, tokens = api_token()
                retries = http.Retries()
                assert servers.nats_url is not None and servers.database_url is not None
                nats_url, database_url = servers.nats_url, servers.database_url
                ingest = stack.enter_context(
                    service("ingest", nats_url, stream, database_url, tokens, workdir, workers=options.ingest_workers)
                )
                await ingest.ready()
                columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
                progress = stack.enter_context(Progress(*columns, console=console, transient=True))
                split = None
                if options.partitions > 1:
                    split = split_settings(servers, options.partitions)
                    existed_split = await refuse_busy_stream(nc.jetstream(), EventStream.of(split))
                    await ensure_stream(nc, split)
                    leave_split = nc.jetstream().purge_stream if existed_split else nc.jetstream().delete_stream
                    stack.push_async_callback(leave_split, split.stream_name)
                context = Context(options, servers, nc, ingest, token, retries, tokens, workdir, progress, split)
                for number in range(1, options.rounds + 1):
                    await one_round(context, figures, number)
    return figures.all(), retries.count


async def one_round(ctx: Context, figures: Figures, number: int) -> None:
    options, js = ctx.options, ctx.nc.jetstream()
    await js.purge_stream(ctx.stream.name)
    batch = submissions(options.mix, options.events, options.incidents)
    singles = submissions(options.mix, options.singles, options.incidents, concurrent=True)
    fresh_count = int(options.fresh_per_second * options.fresh_seconds)
    fresh = submissions(options.mix, fresh_count, options.incidents, concurrent=True)

    ingest_phase = ctx.phase(f"round {number}: ingest")
    async with ctx.client(ctx.ingest.url) as ingest:
        batch_rate = await project.batch_ingest_rate(ingest, batch)
    payloads = _encoded(batch)
    figures.batch.add(batch_rate, await raw.publish_async_rate(ctx.nc, ctx.settings, payloads, project.BATCH))
    figures.batch_all.add(batch_rate, await raw.publish_async_rate(ctx.nc, ctx.settings, payloads, len(payloads)))
    figures.batch_atomic.add(batch_rate, await raw.atomic_batch_rate(ctx.nc, ctx.settings, payloads, project.BATCH))
    ingest_phase(1, 2)
    async with ctx.client(ctx.ingest.url) as ingest:
        ours = await project.single_ingest(ingest, singles, options.clients)
    theirs = await raw.publish_in_flight(ctx.nc, ctx.settings, _encoded(singles), options.clients)
    figures.single.add(ours.rate, theirs.rate)
    figures.single_p50.add(ours.p50_ms, theirs.p50_ms)
    figures.single_p99.add(ours.p99_ms, theirs.p99_ms)
    ingest_phase(2, 2)

    state = (await js.stream_info(ctx.stream.name)).state
    fetched = await raw.fetch_and_ack_rate(js, ctx.stream, state.messages)  # before the projector: nothing else runs
    async with projected(ctx, state.first_seq, state.last_seq, f"round {number}: catch-up") as done:
        figures.catch_up.add(done.rate, fetched)
        figures.sizes[options.events + options.singles].add(done.rate, fetched)
        if done.peak_rss_mb is not None:
            figures.rss.add(done.peak_rss_mb)
        figures.bytes.add(project.database_bytes(done.database_url) / state.messages, state.bytes / state.messages)
        replay_settings = ctx.settings.model_copy(update={"database_url": done.database_url})
        replay_phase = ctx.phase(f"round {number}: replay all")
        figures.replay.add(await project.replay_all_rate(replay_settings, js, state.messages, replay_phase), done.rate)
        fresh_phase = ctx.phase(f"round {number}: freshness")
        async with ctx.client(ctx.ingest.url) as ingest, ctx.client(done.query.url) as query:
            latencies = await project.freshness_ms(ingest, query, fresh, options.fresh_per_second, fresh_phase)
        figures.fresh_p50.add(percentile(latencies, 50))
        figures.fresh_p99.add(percentile(latencies, 99))
        await timeline_figures(ctx, figures, done.query.url)
    if ctx.split is not None:  # after the single projector has stopped: nothing else competes for the cores
        await partitioned_catch_up(ctx, figures, state.messages, done, f"round {number}: catch-up, partitions")
    for size in options.sizes:
        await js.purge_stream(ctx.stream.name)
        async with ctx.client(ctx.ingest.url) as ingest:
            await project.batch_ingest_rate(ingest, submissions(options.mix, size, options.incidents))
        sized = (await js.stream_info(ctx.stream.name)).state
        fetched = await raw.fetch_and_ack_rate(js, ctx.stream, size)
        async with projected(ctx, sized.first_seq, sized.last_seq, f"round {number}: catch-up at {size:,}") as done:
            figures.sizes[size].add(done.rate, fetched)


async def partitioned_catch_up(ctx: Context, figures: Figures, messages: int, one: Projected, phase: str) -> None:
    """The round's events copied into the split stream, then caught up by one projector per partition."""
    assert ctx.split is not None
    js, split = ctx.nc.jetstream(), EventStream.of(ctx.split)
    await js.purge_stream(split.name)
    await copy_events(js, ctx.stream, split, messages)
    state = (await js.stream_info(split.name)).state
    async with projected(ctx, state.first_seq, state.last_seq, phase, split) as done:
        figures.partitioned.add(done.rate, one.rate)
        figures.partitioned_cores.add(done.projector_cores, one.projector_cores)


@dataclass(frozen=True)
class Projected:
    database_url: str
    query: Child
    rate: float  # catch-up, events/s
    peak_rss_mb: float | None  # the projector's, once caught up
    projector_cores: float  # CPU seconds of the projector processes over the catch-up's seconds


@asynccontextmanager
async def projected(
    ctx: Context, first_seq: int, last_seq: int, phase: str, stream: EventStream | None = None
) -> AsyncIterator[Projected]:
    """A fresh database with the query service on it, and a projector per partition of the stream (the bench's
    unless given) timed from nothing to `last_seq`: from their /healthz answering (consumers start as the HTTP
    server does), so a Python process's start is not counted against a small stream."""
    stream = stream or ctx.stream
    with (
        fresh_database(ctx.server_url) as database_url,
        service(
            "query", ctx.nats_url, stream, database_url, ctx.tokens, ctx.workdir, workers=ctx.options.query_workers
        ) as query,
        ExitStack() as projectors,
    ):
        await query.ready()
        started_projectors = [
            projectors.enter_context(
                service("projector", ctx.nats_url, stream, database_url, ctx.tokens, ctx.workdir, partition)
            )
            for partition in range(stream.partitions)
        ]
        for projector in started_projectors:
            await projector.ready("/healthz", poll_s=START_POLL_S)
        started, cpu_before = time.perf_counter(), _cpu_seconds(started_projectors)
        async with ctx.client(query.url) as reader:
            rate = await project.catch_up_rate(reader, first_seq, last_seq, started, ctx.phase(phase))
        cores = (_cpu_seconds(started_projectors) - cpu_before) / (time.perf_counter() - started)
        peaks = [rss for projector in started_projectors if (rss := projector.peak_rss_mb()) is not None]
        yield Projected(database_url, query, rate, max(peaks) if peaks else None, cores)


def _cpu_seconds(children: list[Child]) -> float:
    return sum(cpu for child in children if (cpu := child.cpu_seconds()) is not None)


NO_CACHE = [("Cache-Control", "no-cache")]  # past the query service's answer cache


async def timeline_figures(ctx: Context, figures: Figures, query_url: str) -> None:
    """A page of 50 of one type from the busiest incident, against a constant body of the same bytes: served from
    the query service's answer cache (the read models do not change meanwhile), and computed for every request."""
    incident = incident_name(SCENARIOS[ctx.options.mix][0], 0)
    path = f"/v1/incidents/{incident}/timeline"
    params = {"type": TIMELINE_TYPE, "limit": 50}
    readers, reads = ctx.options.readers, ctx.options.reads
    async with ctx.client(query_url) as query:
        page = await project.timeline_page(query, incident, TIMELINE_TYPE)
        warm = await project.read_load(query, path, params, reads, readers)
    async with ctx.client(query_url, NO_CACHE) as query:
        cold = await project.read_load(query, path, params, reads, readers)
    with constant_server(page, ctx.workdir) as constant:
        await constant.ready("/")
        async with ctx.client(constant.url) as server:
            theirs = await project.read_load(server, path, params, reads, readers)
    figures.timeline.add(warm.rate, theirs.rate)
    figures.timeline_p99.add(warm.p99_ms, theirs.p99_ms)
    figures.timeline_cold.add(cold.rate, theirs.rate)
    figures.timeline_cold_p99.add(cold.p99_ms, theirs.p99_ms)


def _encoded(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


def machine() -> dict[str, Any]:
    """Cores and memory of the machine the figures come from."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cores": os.cpu_count(), "ram_gb": round(memory / 2**30, 1), "python": platform.python_version()}


def python_loop_s(additions: int = 10_000_000) -> float:
    """Seconds of a loop of plain Python additions (in a function: on local variables), the CPU's speed of the
    moment. A shared machine's speed changes from hour to hour, and the ratios move with it: a figure bound by Python's
    CPU and a raw limit bound by the disk or by Go do not slow alike (docs/performance.md)."""
    started, total = time.perf_counter(), 0
    for number in range(additions):
        total += number
    return time.perf_counter() - started


def run(options: BenchOptions, settings: Settings, json_path: Path | None, console: Console) -> list[Figure]:
    loop_before = python_loop_s()
    figures, retries = asyncio.run(bench(options, settings, console))
    loop_after = python_loop_s()
    described = machine() | {"python_loop_s": [round(loop_before, 2), round(loop_after, 2)]}
    title = (
        f"crisis bench: {options.events:,} events ({options.mix} mix) x {options.rounds} rounds, medians; "
        f"{'fsync before ack' if options.fsync else 'fsync relaxed'}; "
        + (f"catch-up also by {options.partitions} partition projectors; " if options.partitions > 1 else "")
        + f"ingest x{options.ingest_workers}, query x{options.query_workers} worker process(es); "
        + f"{described['cores']} cores, {described['ram_gb']} GB RAM; "
        + f"a loop of 10 million additions {loop_before:.2f} s before the run, {loop_after:.2f} s after; "
        f"{retries} request(s) retried on a dropped connection"
    )
    console.print(table(figures, title))
    if json_path is not None:
        run_info = {"machine": described, "options": options_json(options), "http_retries": retries}
        write_json(json_path, figures, run_info)
    return figures


def options_json(options: BenchOptions) -> dict[str, Any]:
    return {key: (list(value) if isinstance(value, tuple) else value) for key, value in vars(options).items()}
