"""The machine's raw limits: plain nats-py doing the work a service does, with nothing of ours in between.

Publishes go to a scratch stream declared like the event stream (same storage and duplicate window, on the
same server, so under the same fsync setting) and deleted afterwards; reads go over the event stream itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import nats.errors
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from schemas.headers import BATCH_COMMIT, BATCH_ID, BATCH_SEQUENCE
from services.cli.bench.load import Load, closed_loop
from services.common.eventstream import EventStream, stream_config
from services.common.settings import Settings

FETCH = 500
FETCH_WAIT_S = 2.0


@asynccontextmanager
async def scratch_stream(nc: Client, settings: Settings) -> AsyncIterator[str]:
    """A stream like the event stream, for the length of one measurement; yields its subject prefix."""
    name = f"BENCH_RAW_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"bench.raw.{name.lower()}"
    js = nc.jetstream()
    config = dataclasses.replace(stream_config(settings), name=name, subjects=[f"{prefix}.>"], description=None)
    await js.add_stream(config)
    try:
        yield prefix
    finally:
        await js.delete_stream(name)


async def publish_async_rate(nc: Client, settings: Settings, payloads: Sequence[bytes], wave: int) -> float:
    """Messages/s of `publish_async`, `wave` publishes in flight at once, each wave's acks awaited before the next
    is sent: what a batch request of `wave` events does. A wave of every payload puts them all in flight."""
    async with scratch_stream(nc, settings) as prefix:
        js = nc.jetstream(publish_async_max_pending=wave + 1)
        started = time.perf_counter()
        for start in range(0, len(payloads), wave):
            futures = [
                await js.publish_async(f"{prefix}.x", payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})
                for payload in payloads[start : start + wave]
            ]
            await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - started)


async def atomic_batch_rate(nc: Client, settings: Settings, payloads: Sequence[bytes], size: int) -> float:
    """Messages/s of JetStream atomic batches of `size` (ADR-50): each batch's messages sent unanswered, its last
    committing it with a request, the commit's ack awaited before the next batch is sent."""
    async with scratch_stream(nc, settings) as prefix:
        started = time.perf_counter()
        for start in range(0, len(payloads), size):
            batch, batch_id = payloads[start : start + size], uuid.uuid4().hex
            for number, payload in enumerate(batch, start=1):
                headers = {"Nats-Msg-Id": str(uuid.uuid4()), BATCH_ID: batch_id, BATCH_SEQUENCE: str(number)}
                if number < len(batch):
                    await nc.publish(f"{prefix}.x", payload, headers=headers)
                else:
                    answer = await nc.request(f"{prefix}.x", payload, timeout=60, headers=headers | {BATCH_COMMIT: "1"})
                    if b'"error"' in answer.data:
                        raise nats.errors.Error(f"JetStream refused an atomic batch: {answer.data!r}")
        return len(payloads) / (time.perf_counter() - started)


async def publish_in_flight(nc: Client, settings: Settings, payloads: Sequence[bytes], in_flight: int) -> Load:
    """`js.publish` (one acknowledged publish each) from `in_flight` concurrent callers."""
    async with scratch_stream(nc, settings) as prefix:
        js = nc.jetstream()

        async def publish(index: int) -> None:
            await js.publish(f"{prefix}.x", payloads[index], headers={"Nats-Msg-Id": str(uuid.uuid4())})

        return await closed_loop(len(payloads), in_flight, publish)


async def fetch_and_ack_rate(js: JetStreamContext, stream: EventStream, messages: int) -> float:
    """Messages/s of fetch(500) + ack of each message, over the event stream from its first message."""
    sub = await js.pull_subscribe(stream.all_events, stream=stream.name)  # ephemeral: gone when unsubscribed
    try:
        seen = 0
        started = time.perf_counter()
        while seen < messages:
            try:
                batch = await sub.fetch(FETCH, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            for msg in batch:
                await msg.ack()
            seen += len(batch)
        return seen / (time.perf_counter() - started)
    finally:
        await sub.unsubscribe()
