"""The project's figures, each measured through the public surface: the HTTP APIs, the projector process,
the replay that `crisis replay all` runs, and the database the read models live in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from nats.js.client import JetStreamContext

from services.cli.bench.errors import BenchFailed
from services.cli.bench.lean_http import Answer, LeanPool
from services.cli.bench.load import Load, closed_loop
from services.common.eventstream import EventStream
from services.common.settings import Settings
from services.projector.read_models import PROJECTIONS
from services.projector.replay import plan, replay, resolve_origin

BATCH = 500
CATCH_UP_TIMEOUT_S = 3600.0
PROGRESS_STEPS = 100  # how often a catch-up's progress is shown

Progress = Callable[[int, int], None]  # told (done, total) as a measurement advances


def _ok(answer: Answer) -> Answer:
    if answer.status >= 400:
        raise BenchFailed(f"{answer.request}: {answer.status} {answer.body.decode(errors='replace')}")
    return answer


async def batch_ingest_rate(ingest: LeanPool, events: Sequence[dict[str, Any]]) -> float:
    """Events/s accepted by `POST /v1/events/batch`, 500 a request, one request at a time."""
    started = time.perf_counter()
    for start in range(0, len(events), BATCH):
        _ok(await ingest.post_json("/v1/events/batch", {"events": events[start : start + BATCH]}))
    return len(events) / (time.perf_counter() - started)


async def single_ingest(ingest: LeanPool, events: Sequence[dict[str, Any]], in_flight: int) -> Load:
    """`POST /v1/events` from `in_flight` concurrent clients, each on a kept-alive connection of its own."""

    async def post(index: int) -> None:
        _ok(await ingest.post_json("/v1/events", events[index]))

    return await closed_loop(len(events), in_flight, post)


async def position(query: LeanPool, wanted: int) -> int:
    """How far every read model has got (X-Position) once they reach `wanted`: the query service answers a read
    with `min_position` as soon as the batch that reaches it commits, or after its bound."""
    return int(_ok(await query.get("/v1/incidents", {"limit": 1, "min_position": wanted})).header(b"x-position"))


async def catch_up_rate(query: LeanPool, first_seq: int, last_seq: int, started: float, on_progress: Progress) -> float:
    """Events/s of a projector started from nothing, from `started` (it began consuming) until every read model
    holds `last_seq`. Each read waits for the next step of progress, the last for `last_seq` itself: the end is
    seen as the batch that reaches it commits, not at the next of a series of polls."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    total = last_seq - first_seq + 1
    step = max(1, total // PROGRESS_STEPS)
    reached = first_seq - 1
    while reached < last_seq:
        on_progress(max(0, reached - first_seq + 1), total)
        if time.monotonic() > deadline:
            raise BenchFailed(f"the projector reached {reached} of {last_seq} within {CATCH_UP_TIMEOUT_S:.0f}s")
        reached = max(reached, await position(query, min(last_seq, reached + step)))
    rate = total / (time.perf_counter() - started)
    on_progress(total, total)
    return rate


async def replay_all_rate(settings: Settings, js: JetStreamContext, events: int, on_progress: Progress) -> float:
    """Events/s of what `crisis replay all` runs: every read model rebuilt beside the live one, then swapped in."""
    origin = await resolve_origin(js, None, None, EventStream.of(settings))
    started = time.perf_counter()
    projections = await plan(settings, "all", list(PROJECTIONS.values()), origin)
    await replay(settings, "all", projections, origin, on_progress)
    return events / (time.perf_counter() - started)


async def freshness_ms(
    ingest: LeanPool,
    query: LeanPool,
    events: Sequence[dict[str, Any]],
    per_second: float,
    on_progress: Progress,
) -> list[float]:
    """Milliseconds from each 202 until the query API shows the event, posting at a steady rate. One reader
    long-polls, as a dashboard following the stream would: a GET with `min_position` set to the lowest accepted
    event it has not seen yet, which answers as soon as the read models reach it; every accepted event at or
    below that answer's X-Position was visible by then. (A GET per event would time the query service's queue
    of 200 reads/s as much as the projector.)"""
    accepted: dict[int, float] = {}  # stream sequence -> when its 202 arrived, until it is seen
    latencies: list[float] = []
    seen = 0  # the highest X-Position answered so far
    more = asyncio.Event()

    async def post(event: dict[str, Any]) -> None:
        seq = orjson.loads(_ok(await ingest.post_json("/v1/events", event)).body)["seq"]
        if seq <= seen:  # visible before its 202 came back
            latencies.append(0.0)
        else:
            accepted[seq] = time.perf_counter()
        more.set()  # also when that was the last one: the reader then stops

    async def follow() -> None:
        nonlocal seen
        while len(latencies) < len(events):
            if not accepted:
                more.clear()
                await more.wait()
                continue
            seen = max(seen, await position(query, min(accepted)))
            now = time.perf_counter()
            for seq in [seq for seq in accepted if seq <= seen]:
                latencies.append((now - accepted.pop(seq)) * 1000)
            on_progress(len(latencies), len(events))

    follower = asyncio.create_task(follow())
    try:
        started = time.perf_counter()
        posts = []
        for index, event in enumerate(events):
            await asyncio.sleep(max(0.0, started + index / per_second - time.perf_counter()))
            posts.append(asyncio.create_task(post(event)))
        await asyncio.gather(*posts)
        await asyncio.wait_for(follower, CATCH_UP_TIMEOUT_S)
    finally:
        follower.cancel()
    return latencies


async def timeline_page(query: LeanPool, incident: str, event_type: str) -> bytes:
    return _ok(await query.get(f"/v1/incidents/{incident}/timeline", {"type": event_type, "limit": 50})).body


async def read_load(server: LeanPool, path: str, params: dict[str, Any], calls: int, readers: int) -> Load:
    """GET `path` `calls` times from `readers` concurrent readers, each on a kept-alive connection of its own."""

    async def get(_index: int) -> None:
        _ok(await server.get(path, params))

    return await closed_loop(calls, readers, get)


def database_bytes(database_url: str) -> int:
    """Bytes of every table (read models and bookkeeping, with indexes and TOAST) after VACUUM FULL."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM FULL")
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    assert row is not None
    return int(row[0])
