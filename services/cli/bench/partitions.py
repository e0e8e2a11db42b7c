"""`crisis bench --partitions N`: the round's events again, in a stream split into N partitions, for N projectors.

The split stream sits beside the bench's stream (its own name and subject prefix), holds a copy of the round's
events in the same order, and is deleted at the end of the run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext

from schemas.headers import republishable
from services.common.eventstream import EventStream
from services.common.settings import Settings

FETCH = 500
FETCH_WAIT_S = 2.0


def split_settings(settings: Settings, partitions: int) -> Settings:
    stream = EventStream.of(settings)
    return settings.model_copy(
        update={
            "stream_name": f"{stream.name}-P{partitions}",
            "subject_prefix": f"{stream.prefix}-p{partitions}",
            "stream_partitions": partitions,
        }
    )


async def copy_events(js: JetStreamContext, source: EventStream, target: EventStream, messages: int) -> None:
    """Every event of `source` published again to `target` (under its prefix), in order, all in flight at once."""
    sub = await js.pull_subscribe(source.all_events, stream=source.name)  # ephemeral: gone when unsubscribed
    try:
        acks: list[asyncio.Future[Any]] = []
        while len(acks) < messages:
            try:
                batch = await sub.fetch(FETCH, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            for msg in batch:
                _, incident, event_type = source.published_subject(msg.subject).rsplit(".", 2)
                headers = republishable(msg.headers or {})
                acks.append(await js.publish_async(target.subject(incident, event_type), msg.data, headers=headers))
                await msg.ack()
        await asyncio.gather(*acks)
    finally:
        await sub.unsubscribe()
