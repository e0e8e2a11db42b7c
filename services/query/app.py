"""The query process: an HTTP read API over the read models in PostgreSQL.

It starts even when PostgreSQL is down (the pool connects in the background); until the database answers,
/readyz and every read answer 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.database import PROGRESS_CHANNEL, READ_MODELS_CHANNEL, TIMELINE_CHANNEL
from services.common.frozen_heap import SERVING_YOUNG_THRESHOLD, frozen_heap
from services.common.http import error_body, install_common
from services.common.openapi import install_openapi
from services.common.settings import Settings
from services.query.access import authorised_reader, read_access
from services.query.answer_cache import AnswerCache
from services.query.api import api_router
from services.query.cached_answers import CachedAnswers
from services.query.database import ReadModels, read_pool
from services.query.dependencies import QueryRuntime, install_runtime, runtime_of
from services.query.freshness import PositionWaiter
from services.query.heavy_reads import HeavyReadSlots, TooManyRows
from services.query.listener import Listener
from services.query.live import LiveFeed, TimelineNotifications
from services.query.openapi import document_read_headers
from services.query.progress import ProjectorProgress
from services.query.stream_end import StreamEnd


def create_app(settings: Settings) -> FastAPI:
    if settings.database_url is None:
        raise ValueError("the query service needs CRISIS_DATABASE_URL")
    database_url = settings.database_url
    cache = AnswerCache(settings.query_cache_mb * 1024 * 1024) if settings.query_cache_mb else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = read_pool(database_url)
        await pool.open(wait=False)
        heavy = HeavyReadSlots(settings.query_heavy_reads, settings.database_timeout_s)
        read_models = ReadModels(pool, settings.database_timeout_s, heavy)
        notifications, progress = TimelineNotifications(), ProjectorProgress()
        every_channel = [cache] if cache is not None else []  # first: the cache drops stale answers before waking
        listener = Listener(
            database_url,
            {
                TIMELINE_CHANNEL: [*every_channel, notifications],
                PROGRESS_CHANNEL: [*every_channel, progress],
                READ_MODELS_CHANNEL: every_channel,
            },
        )
        listener.start()
        stream_end = StreamEnd(settings)
        stream_end.start()
        waiter = PositionWaiter(
            read_models, stream_end, progress, settings.min_position_wait_s, settings.min_position_poll_s
        )
        install_runtime(app, QueryRuntime(read_models, LiveFeed(read_models, notifications), waiter, settings))
        try:
            # A full collection while heavy reads allocate walks only what they made; young ones are spaced out.
            with frozen_heap(young_threshold=SERVING_YOUNG_THRESHOLD):
                yield
        finally:
            install_runtime(app, None)
            await stream_end.stop()
            await listener.stop()
            await pool.close()

    app = FastAPI(title="crisis query", version="1", lifespan=lifespan)
    if cache is not None:  # before install_common: inside CorrelatedRequests, so hits get a correlation id too
        authorised = None if settings.query_public else authorised_reader
        app.add_middleware(CachedAnswers, cache=cache, authorised=authorised)

    async def postgres_ready() -> None:
        await runtime_of(app).read_models.ping()

    install_common(app, "query", checks={"postgres": postgres_ready})

    @app.exception_handler(TooManyRows)
    async def too_many_rows(request: Request, exc: TooManyRows) -> JSONResponse:
        return JSONResponse(error_body(str(exc)), status_code=413)

    install_openapi(app)
    document_read_headers(app)
    access = read_access(app, settings)
    app.include_router(api_router, **access)
    return app
