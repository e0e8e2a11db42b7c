"""The query process: an HTTP read API over the read models in PostgreSQL.

It starts even when PostgreSQL is down (the pool connects in the background); until the database answers,
/readyz and every read answer 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.common.database import create_pool
from services.common.http import install_common
from services.common.settings import Settings
from services.query import domain_routes
from services.query.database import ReadModels, read_models
from services.query.routes import router


def create_app(settings: Settings) -> FastAPI:
    if settings.database_url is None:
        raise ValueError("the query service needs CRISIS_DATABASE_URL")
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = create_pool(database_url)
        await pool.open(wait=False)
        app.state.read_models = ReadModels(pool, settings.database_timeout_s)
        try:
            yield
        finally:
            del app.state.read_models
            await pool.close()

    app = FastAPI(title="crisis query", version="1", lifespan=lifespan)

    async def postgres_ready() -> None:
        await read_models(app).ping()

    install_common(app, "query", checks={"postgres": postgres_ready})
    app.include_router(router)
    app.include_router(domain_routes.router)
    return app
