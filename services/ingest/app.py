"""The ingest process: HTTP in, JetStream out. It never touches PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from schemas.catalogue import build_envelopes
from services.common.bearer import configured_tokens
from services.common.frozen_heap import SERVING_YOUNG_THRESHOLD, frozen_heap
from services.common.http import install_common
from services.common.openapi import install_openapi
from services.common.settings import Settings
from services.ingest.direct_route import AppWithDirectRoute
from services.ingest.eventlog import EventLog
from services.ingest.identity import event_id_secret
from services.ingest.nats_eventlog import NatsEventLog
from services.ingest.openapi import COMPONENTS
from services.ingest.ratelimit import WriteRateLimit
from services.ingest.routes import EVENTS_PATH, post_event_directly, router

log = structlog.get_logger(__name__)


def create_app(settings: Settings, event_log: EventLog | None = None) -> AppWithDirectRoute:
    """Ingest on NATS; tests pass an in-memory `event_log` to check what does not rest on a server."""
    log_of_events = event_log if event_log is not None else NatsEventLog(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Refuses to start without tokens or the event id secret, before NATS.
        app.state.tokens = configured_tokens(settings, "ingest")
        app.state.event_id_secret = event_id_secret(settings)
        build_envelopes()
        await log_of_events.start()
        # Full collections were a sixth of ingest's CPU under `crisis bench`; the young ones, 6% of a single
        # event's, walked the requests in flight and found next to no garbage.
        with frozen_heap(young_threshold=SERVING_YOUNG_THRESHOLD):
            log.info("ingest started", nats_url=settings.nats_url, tokens=sorted(app.state.tokens))
            try:
                yield
            finally:
                await log_of_events.stop()

    app = AppWithDirectRoute(title="crisis ingest", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.event_log = log_of_events
    app.state.write_rate_limit = WriteRateLimit(settings.write_rate_limit, settings.ingest_workers)
    app.answer_directly("POST", router.prefix + EVENTS_PATH, post_event_directly, service="ingest")
    install_common(app, "ingest", checks={"nats": log_of_events.check})
    install_openapi(app, COMPONENTS)
    app.include_router(router)
    return app
