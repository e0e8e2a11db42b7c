"""The query service's PostgreSQL: a pool opened in the lifespan, and "down or too slow" as `Unavailable`.

Every connection a request uses comes from `ReadModels.connection`, so a refused connection, a pool with no
connection to give within the timeout, or a connection lost mid-query all become HTTP 503 with Retry-After.

The pool gives up reconnecting after RECONNECT_TIMEOUT_S and tries again when a request asks for a connection:
its own backoff doubles for as long as PostgreSQL is down, and would keep answering 503 for seconds after it is
back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.common.database import DictConnection, create_pool
from services.common.http import Unavailable
from services.query.heavy_reads import HeavyReadSlots

DATABASE_DOWN: tuple[type[Exception], ...] = (psycopg.OperationalError, PoolTimeout)
PING_TIMEOUT_S = 2.0
RECONNECT_TIMEOUT_S = 0.5


def read_pool(url: str) -> AsyncConnectionPool[DictConnection]:
    return create_pool(url, reconnect_timeout=RECONNECT_TIMEOUT_S, configure=_orjson_loads)


async def _orjson_loads(conn: DictConnection) -> None:
    """JSON columns parsed by orjson, several times faster than the standard library's, to the same values (the
    projector wrote them with orjson): a timeline page parses four a row."""
    set_json_loads(orjson.loads, conn)


@dataclass(frozen=True)
class ReadModels:
    pool: AsyncConnectionPool[DictConnection]
    timeout_s: float  # the longest a request waits for a connection
    heavy: HeavyReadSlots

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[DictConnection]:
        try:
            async with self.pool.connection(timeout=self.timeout_s) as conn:
                yield conn
        except DATABASE_DOWN as exc:
            raise Unavailable(f"PostgreSQL did not answer ({type(exc).__name__}: {exc})") from exc

    async def ping(self) -> None:
        """SELECT 1, within PING_TIMEOUT_S; raises Unavailable."""
        try:
            async with asyncio.timeout(PING_TIMEOUT_S), self.connection() as conn:
                await conn.execute("SELECT 1")
        except TimeoutError as exc:
            raise Unavailable(f"PostgreSQL did not answer SELECT 1 within {PING_TIMEOUT_S}s") from exc
