"""PostgreSQL connections: opened by the caller's lifespan, never at import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

DictConnection = psycopg.AsyncConnection[dict[str, object]]

# The projector NOTIFYs this channel with the incident id when it commits timeline entries; the query service's
# live feed LISTENs to it.
TIMELINE_CHANNEL = "crisis_timeline"
# The projector NOTIFYs this channel with a checkpoint it moved; the query service's read-your-writes waits on it.
PROGRESS_CHANNEL = "crisis_progress"
# Every write to a read model NOTIFYs this channel at COMMIT (a trigger, migration 0014), and so does a migration:
# the query service's answer cache drops what it holds.
READ_MODELS_CHANNEL = "crisis_read_models"
ANNOUNCE_READ_MODELS_CHANGED = f"SELECT pg_notify('{READ_MODELS_CHANNEL}', '')"


async def connect(url: str, *, autocommit: bool = False) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=autocommit, row_factory=dict_row)


def create_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    reconnect_timeout: float = 300.0,
    configure: Callable[[DictConnection], Awaitable[None]] | None = None,
) -> AsyncConnectionPool[DictConnection]:
    """A pool that opens lazily in the lifespan (`await pool.open()`); a down database does not stop start.
    `configure` runs on each new connection."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        reconnect_timeout=reconnect_timeout,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": True},
        connection_class=psycopg.AsyncConnection[dict[str, object]],
        configure=configure,
    )
