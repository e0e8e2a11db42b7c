"""A group's shift: on standby until this process holds its lease, then feed it until the lease is lost.

Taking over, and after every reconnect to NATS, the consumer is recreated from the checkpoint (what was left
unacknowledged is delivered again at once, and skipped if it was committed).
"""

from __future__ import annotations

import asyncio

import nats.errors
import structlog
from nats.aio.client import Client

from services.projector import metrics
from services.projector.consumer import GroupWorker
from services.projector.lease import LEASE_POLL_S, Lease
from services.projector.stopping import pause

log = structlog.get_logger(__name__)


async def _watch(lease: Lease, stopping: asyncio.Event, shift_over: asyncio.Event) -> None:
    while not stopping.is_set() and await lease.still_held():
        await pause(stopping, LEASE_POLL_S)
    shift_over.set()


async def _reset(worker: GroupWorker, nc: Client) -> bool:
    """Recreate the consumer; False while JetStream cannot answer yet (a nats-server just restarted)."""
    try:
        await worker.reset_consumer(nc.jetstream())
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("consumer not recreated yet; retrying", group=worker.group.lease_name, error=repr(exc))
        return False
    return True


def _set_active(worker: GroupWorker, active: bool) -> None:
    for name in worker.group.names:
        metrics.ACTIVE.labels(name).set(int(active))


async def run_shifts(worker: GroupWorker, nc: Client, stopping: asyncio.Event, lease: Lease) -> None:
    name = worker.group.lease_name
    _set_active(worker, False)
    try:
        while not stopping.is_set():
            if not await lease.try_acquire():
                await pause(stopping, LEASE_POLL_S)
                continue
            shift_over = asyncio.Event()
            watcher = asyncio.create_task(_watch(lease, stopping, shift_over))
            try:
                log.info("active: this process feeds the group", group=name, projections=worker.group.names)
                _set_active(worker, True)
                while not shift_over.is_set():  # run() returns after a reconnect: start again from the checkpoint
                    if await _reset(worker, nc):
                        await worker.run(nc, shift_over)
                    else:
                        await pause(shift_over, LEASE_POLL_S)
            except Exception as exc:  # NATS or PostgreSQL unavailable: step back, let the lease go, try again
                log.warning("shift ended by an error; standing by", group=name, error=repr(exc))
            finally:
                _set_active(worker, False)
                watcher.cancel()
                await lease.release()
                await worker.close()
            await pause(stopping, LEASE_POLL_S)
    finally:
        await lease.release()
