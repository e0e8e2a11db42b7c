"""A rebuild from scratch: a fresh database fed the whole stream by an in-process projector."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from asgi_lifespan import LifespanManager

from services.common.embedded_postgres import EmbeddedPostgres
from services.common.settings import Settings
from services.projector.app import create_app
from services.projector.read_models import PROJECTIONS
from tests.readmodels import snapshot
from tests.waiting import wait_until


async def rebuilt_snapshot(
    settings: Settings, postgres: EmbeddedPostgres, last_seq: int
) -> dict[str, list[tuple[Any, ...]]]:
    name = f"rebuild_{uuid.uuid4().hex[:12]}"
    admin = postgres.admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres.admin_url(name)
    try:
        async with LifespanManager(create_app(settings.model_copy(update={"database_url": url}))):

            async def lowest() -> int:
                async with await psycopg.AsyncConnection.connect(url) as conn:
                    cur = await conn.execute("SELECT min(last_seq), count(*) FROM projection_checkpoints")
                    low, count = (await cur.fetchone()) or (0, 0)
                    return int(low or 0) if count == len(PROJECTIONS) else 0

            await wait_until(lowest, lambda low: low >= last_seq, within=300, what="the rebuild to catch up")
        return snapshot(url)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
