"""A projection's shift: on standby until this process holds its lease, then feed it until the lease is lost.

Taking over, the consumer is recreated from the checkpoint (what the previous holder left unacknowledged is
delivered again at once, and skipped if it was committed).
"""

from __future__ import annotations

import asyncio

import structlog
from nats.js.client import JetStreamContext

from services.projector import metrics
from services.projector.consumer import ProjectionWorker
from services.projector.lease import LEASE_POLL_S, Lease
from services.projector.stopping import pause

log = structlog.get_logger(__name__)


async def _watch(lease: Lease, stopping: asyncio.Event, shift_over: asyncio.Event) -> None:
    while not stopping.is_set() and await lease.still_held():
        await pause(stopping, LEASE_POLL_S)
    shift_over.set()


async def run_shifts(worker: ProjectionWorker, js: JetStreamContext, stopping: asyncio.Event, lease: Lease) -> None:
    name = worker.projection.name
    metrics.ACTIVE.labels(name).set(0)
    try:
        while not stopping.is_set():
            if not await lease.try_acquire():
                await pause(stopping, LEASE_POLL_S)
                continue
            shift_over = asyncio.Event()
            watcher = asyncio.create_task(_watch(lease, stopping, shift_over))
            try:
                await worker.reset_consumer(js)
                log.info("active: this process feeds the projection", projection=name)
                metrics.ACTIVE.labels(name).set(1)
                await worker.run(js, shift_over)
            except Exception as exc:  # NATS or PostgreSQL unavailable: step back, let the lease go, try again
                log.warning("shift ended by an error; standing by", projection=name, error=repr(exc))
            finally:
                metrics.ACTIVE.labels(name).set(0)
                watcher.cancel()
                await lease.release()
                await worker.close()
            await pause(stopping, LEASE_POLL_S)
    finally:
        await lease.release()
