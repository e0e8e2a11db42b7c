"""Hot standby: of the projector processes running, the one holding a projection's lease feeds it.

The lease is a session-level PostgreSQL advisory lock on a connection of its own, so PostgreSQL releases it the
moment that process dies or loses its connection, and a standby polling for it takes over within LEASE_POLL_S.
Correctness never rests on the lease alone: the checkpoint's row lock and skip-at-or-below-the-checkpoint keep
two appliers from doubling anything; the lease keeps them from doing the same work twice.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import psycopg
import structlog
from psycopg.rows import tuple_row

log = structlog.get_logger(__name__)

LEASE_NAMESPACE = 0x43525350  # "CRSP": the first key of the two-key advisory lock, for every projection
LEASE_POLL_S = 1.0
APPLICATION_NAME = "crisis-projector-lease"


def lease_key(projection: str) -> int:
    """The second key: stable across processes and versions (not Python's salted hash)."""
    return zlib.crc32(projection.encode()) & 0x7FFFFFFF


class Lease:
    def __init__(self, database_url: str, projection: str) -> None:
        self.database_url, self.projection = database_url, projection
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def try_acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.database_url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=f"{APPLICATION_NAME}:{os.getpid()}:{self.projection}",
                )
            cur = await self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LEASE_NAMESPACE, lease_key(self.projection))
            )
            row = await cur.fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("lease unavailable", projection=self.projection, error=repr(exc))
            await self.release()
            return False

    async def still_held(self) -> bool:
        """The lock lives as long as its connection: a live connection means it is still ours."""
        if self._conn is None:
            return False
        try:
            await self._conn.execute("SELECT 1")
            return True
        except psycopg.Error as exc:
            log.warning("lease lost", projection=self.projection, error=repr(exc))
            await self.release()
            return False

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except psycopg.Error as exc:  # already broken: the server has dropped the lock with it
                log.debug("closing the lease connection failed", error=repr(exc))


async def holders(conn: psycopg.AsyncConnection[Any]) -> dict[str, tuple[bool, int]]:
    """Projection -> (held by a process, processes on standby), from the lease connections in this database."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            """SELECT split_part(a.application_name, ':', 3),
                  bool_or(l.pid IS NOT NULL), count(*) FILTER (WHERE l.pid IS NULL)
           FROM pg_stat_activity a
           LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                AND l.classid = %s AND l.objsubid = 2
           WHERE a.datname = current_database() AND a.application_name LIKE %s
           GROUP BY 1""",
            (LEASE_NAMESPACE, f"{APPLICATION_NAME}:%"),
        )
        return {str(name): (bool(held), int(waiting)) for name, held, waiting in await cur.fetchall()}
