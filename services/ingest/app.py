"""The ingest process: HTTP in, JetStream out. It never touches PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from services.common.bearer import configured_tokens
from services.common.http import install_common
from services.common.openapi import install_openapi
from services.common.settings import Settings
from services.ingest.eventlog import EventLog
from services.ingest.openapi import COMPONENTS
from services.ingest.ratelimit import WriteRateLimit
from services.ingest.routes import router

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> FastAPI:
    event_log = EventLog(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.tokens = configured_tokens(settings, "ingest")  # refuses to start without tokens, before NATS
        await event_log.start()
        log.info("ingest started", nats_url=settings.nats_url, tokens=sorted(app.state.tokens))
        try:
            yield
        finally:
            await event_log.stop()

    app = FastAPI(title="crisis ingest", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.event_log = event_log
    app.state.write_rate_limit = WriteRateLimit(settings.write_rate_limit)
    install_common(app, "ingest", checks={"nats": event_log.check})
    install_openapi(app, COMPONENTS)
    app.include_router(router)
    return app
