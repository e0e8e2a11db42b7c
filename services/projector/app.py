"""The projector process: its consumers run in the lifespan of a small HTTP app for health and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import psycopg
import structlog
from fastapi import FastAPI
from nats.aio.client import Client

from schemas.catalogue import build_envelopes
from services.common.database import connect
from services.common.eventstream import EventStream, connect_options, ensure_stream
from services.common.frozen_heap import PROJECTOR_YOUNG_THRESHOLD, frozen_heap
from services.common.http import install_common
from services.common.settings import Settings
from services.projector.checkpoints import register_checkpoints
from services.projector.consumer import GroupWorker
from services.projector.group import ProjectionGroup
from services.projector.lease import Lease
from services.projector.migrate import migrate
from services.projector.partition import Partition
from services.projector.projection import Projection
from services.projector.read_models import PROJECTIONS
from services.projector.standby import run_shifts
from services.projector.status_metrics import refresh_forever
from services.webhooks.delivery import WebhookWorker

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 10.0  # a batch in flight may finish (and be acked) before the connection closes


def create_app(settings: Settings, projections: list[Projection] | None = None) -> FastAPI:
    if settings.database_url is None or settings.nats_url is None:
        raise ValueError("the projector needs CRISIS_NATS_URL and CRISIS_DATABASE_URL")
    database_url = settings.database_url
    group = ProjectionGroup.of(projections or PROJECTIONS.values(), Partition.of(settings))
    worker = GroupWorker(group, settings)
    connection: dict[str, Client] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        build_envelopes(decoding=True)  # before the first batch: a type's first event built them
        await asyncio.to_thread(migrate, database_url)
        nc = connection["nats"] = await nats.connect(**connect_options(settings, "crisis-projector"))
        await ensure_stream(nc, settings)
        async with await connect(database_url) as conn:
            await register_checkpoints(conn, group.names, group.partition)
        stopping = asyncio.Event()
        webhooks = WebhookWorker(settings)  # deliveries run beside the projections, never in them
        webhooks.start()
        feeding = asyncio.create_task(
            run_shifts(worker, nc, stopping, Lease(database_url, group)), name=group.lease_name
        )
        figures = asyncio.create_task(
            refresh_forever(nc.jetstream(), database_url, stopping, EventStream.of(settings)), name="status figures"
        )
        log.info("projector started", group=group.lease_name, projections=group.names)
        # A batch's events outlive the younger collections until its COMMIT: unfrozen, a full collection walked
        # the whole process every few batches of a catch-up (5 of them, 0.28 s of 1.4 s CPU for 10,000 events);
        # the young ones, spaced out, no longer walk a batch's events over and over.
        with frozen_heap(young_threshold=PROJECTOR_YOUNG_THRESHOLD):
            try:
                yield
            finally:
                await webhooks.stop()
                stopping.set()
                figures.cancel()
                if not worker.applying:  # waiting in a fetch: nothing held, nothing to lose
                    feeding.cancel()
                _, pending = await asyncio.wait([feeding, figures], timeout=STOP_TIMEOUT_S)
                for task in pending:  # unacknowledged work is redelivered: cancelling loses nothing
                    task.cancel()
                await asyncio.gather(feeding, figures, return_exceptions=True)
                await worker.close()
                await nc.close()

    app = FastAPI(title="crisis projector", version="1", lifespan=lifespan)

    async def nats_ready() -> None:
        if "nats" not in connection or not connection["nats"].is_connected:
            raise RuntimeError("not connected to NATS")

    async def postgres_ready() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=2) as conn:
            await conn.execute("SELECT 1")

    install_common(app, "projector", checks={"nats": nats_ready, "postgres": postgres_ready})
    return app
