"""The projector process: its consumers run in the lifespan of a small HTTP app for health and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import structlog
from fastapi import FastAPI
from faststream.nats import NatsBroker

from services.common.eventstream import broker_options, ensure_stream
from services.common.http import install_common
from services.common.settings import Settings
from services.projector.consumer import ProjectionWorker, subscribe
from services.projector.migrate import migrate
from services.projector.projection import Projection
from services.projector.read_models import PROJECTIONS
from services.webhooks.delivery import WebhookWorker

log = structlog.get_logger(__name__)


def create_app(settings: Settings, projections: list[Projection] | None = None) -> FastAPI:
    if settings.database_url is None or settings.nats_url is None:
        raise ValueError("the projector needs CRISIS_NATS_URL and CRISIS_DATABASE_URL")
    database_url = settings.database_url
    broker = NatsBroker(**broker_options(settings, "crisis-projector"))
    workers = [ProjectionWorker(p, settings) for p in (projections or list(PROJECTIONS.values()))]
    for worker in workers:
        subscribe(broker, worker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, database_url)
        client = await broker.connect()
        await ensure_stream(client, settings)
        for worker in workers:
            await worker.reset_consumer(client.jetstream())
        await broker.start()
        webhooks = WebhookWorker(settings)  # issue 6: deliveries run beside the projections, never in them
        webhooks.start()
        log.info("projector started", projections=[w.projection.name for w in workers])
        yield
        await webhooks.stop()
        await broker.stop()
        for worker in workers:
            await worker.close()

    app = FastAPI(title="crisis projector", version="1", lifespan=lifespan)

    async def nats_ready() -> None:
        if not broker.connection.is_connected:
            raise RuntimeError("not connected to NATS")

    async def postgres_ready() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=2) as conn:
            await conn.execute("SELECT 1")

    install_common(app, "projector", checks={"nats": nats_ready, "postgres": postgres_ready})
    return app
