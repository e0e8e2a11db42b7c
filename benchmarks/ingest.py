"""`crisis bench`'s two ingest figures alone, with ingest's CPU per event: for profiling and back-to-back comparisons.

    python -m benchmarks.ingest [--events 4000] [--rounds 3] [--clients 64] [--workers 1]

Starts an embedded nats-server (fsync before every ack) and `crisis ingest` as a child process, as `crisis bench`
does, then per round, with the same functions as `crisis bench`: `--events` events through `POST /v1/events/batch`
(500 a request) against nats-py `publish_async` of the same events 500 at a time, each 500's acks awaited before
the next (`publish_async`, `batch_ratio`), all in flight at once (`publish_async_all`, `batch_ratio_all`), and as
JetStream atomic batches of 500, as ingest sends them (`atomic_batch`, `batch_ratio_atomic`); then
max(128, events/4) events through `POST /v1/events` from `--clients` concurrent writers against `js.publish` with as
many in flight. Ingest's CPU time (from /proc) is read before and after each of its two loads. Prints every round
and the medians (a ratio is the median of the rounds' ratios). While it runs, `py-spy record --pid <ingest's pid>`
profiles ingest: the pid is printed first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from services.cli.bench import project, raw
from services.cli.bench.http import Retries
from services.cli.bench.lean_http import LeanPool
from services.cli.bench.servers import Child, api_token, service
from services.cli.bench.workload import Mix, submissions
from services.common.embedded_nats import EmbeddedNats
from services.common.eventstream import EventStream, connect_options, ensure_stream
from services.common.settings import Settings

INCIDENTS = 10
NO_DATABASE = "postgresql://unused/none"  # ingest never touches PostgreSQL


def _cpu(ingest: Child) -> float:
    seconds = ingest.cpu_seconds()
    assert seconds is not None, "ingest has stopped"
    return seconds


async def one_round(settings: Settings, nc: Client, ingest: Child, token: str, options: Any) -> dict[str, float]:
    batch = submissions(Mix.demo, options.events, INCIDENTS)
    singles = submissions(Mix.demo, max(128, options.events // 4), INCIDENTS, concurrent=True)
    retries = Retries()
    before = _cpu(ingest)
    async with LeanPool(ingest.url, token, retries) as pool:
        batch_rate = await project.batch_ingest_rate(pool, batch)
    batch_cpu = _cpu(ingest) - before
    payloads = [json.dumps(e).encode() for e in batch]
    publish_async = await raw.publish_async_rate(nc, settings, payloads, project.BATCH)
    all_in_flight = await raw.publish_async_rate(nc, settings, payloads, len(payloads))
    atomic = await raw.atomic_batch_rate(nc, settings, payloads, project.BATCH)
    before = _cpu(ingest)
    async with LeanPool(ingest.url, token, retries) as pool:
        single = await project.single_ingest(pool, singles, options.clients)
    single_cpu = _cpu(ingest) - before
    js_publish = await raw.publish_in_flight(nc, settings, [json.dumps(e).encode() for e in singles], options.clients)
    return {
        "batch": batch_rate,
        "publish_async": publish_async,
        "batch_ratio": batch_rate / publish_async,
        "publish_async_all": all_in_flight,
        "batch_ratio_all": batch_rate / all_in_flight,
        "atomic_batch": atomic,
        "batch_ratio_atomic": batch_rate / atomic,
        "batch_cpu_us": batch_cpu / len(batch) * 1e6,
        "single": single.rate,
        "js_publish": js_publish.rate,
        "single_ratio": single.rate / js_publish.rate,
        "single_p50_ms": single.p50_ms,
        "js_publish_p50_ms": js_publish.p50_ms,
        "single_cpu_us": single_cpu / len(singles) * 1e6,
        "retries": retries.count,
    }


async def main(options: Any) -> None:
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="crisis-ingest-bench-") as scratch:
        workdir = Path(scratch)
        with EmbeddedNats(workdir / "nats", sync_always=True) as server:
            settings = Settings().model_copy(update={"nats_url": server.url, "stream_protected": False})
            stream = EventStream.of(settings)
            nc = await nats.connect(**connect_options(settings, "crisis-ingest-bench") | {"max_reconnect_attempts": 0})
            try:
                await ensure_stream(nc, settings)
                token, tokens = api_token()
                with service(
                    "ingest", server.url, stream, NO_DATABASE, tokens, workdir, workers=options.workers
                ) as ingest:
                    await ingest.ready()
                    print(f"ingest pid {ingest.process.pid}", flush=True)
                    for _ in range(options.rounds):
                        await nc.jetstream().purge_stream(stream.name)
                        rounds.append(await one_round(settings, nc, ingest, token, options))
                        print(json.dumps({k: round(v, 3) for k, v in rounds[-1].items()}), flush=True)
            finally:
                await nc.close()
    medians = {k: round(statistics.median(r[k] for r in rounds), 3) for k in rounds[0]}
    print("median", json.dumps(medians))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="ingest's worker processes (its CPU is theirs summed)")
    asyncio.run(main(parser.parse_args()))
