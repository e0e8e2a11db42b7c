"""Hot standby: of the projector processes running, the one holding a group's lease feeds its read models.

A partitioned stream has a lease per partition (`timeline@1`): each partition's projectors stand by for it alone.

The lease is a session-level PostgreSQL advisory lock per read model of the group, all taken or none, on a
connection of its own, so PostgreSQL releases it the
moment that process dies or loses its connection, and a standby polling for it takes over within LEASE_POLL_S.
Correctness never rests on the lease alone: the checkpoint's row lock and skip-at-or-below-the-checkpoint keep
two appliers from doubling anything; the lease keeps them from doing the same work twice.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from typing import Any

import psycopg
import structlog
from psycopg.rows import tuple_row

from services.projector.group import ProjectionGroup, group_covers

log = structlog.get_logger(__name__)

LEASE_NAMESPACE = 0x43525350  # "CRSP": the first key of the two-key advisory lock, for every projection
LEASE_POLL_S = 1.0
APPLICATION_NAME = "crisis-projector-lease"


def lease_key(projection: str) -> int:
    """The second key: stable across processes and versions (not Python's salted hash)."""
    return zlib.crc32(projection.encode()) & 0x7FFFFFFF


class Lease:
    def __init__(self, database_url: str, group: ProjectionGroup) -> None:
        self.database_url, self.group = database_url, group
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def try_acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.database_url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=f"{APPLICATION_NAME}:{os.getpid()}:{self.group.lease_name}",
                )
            cur = await self._conn.execute(
                "SELECT bool_and(pg_try_advisory_lock(%s, key)) FROM unnest(%s::int[]) AS key",
                (LEASE_NAMESPACE, [lease_key(name) for name in self.group.lease_names]),
            )
            row = await cur.fetchone()
            if row and row[0]:
                return True
            await self._conn.execute("SELECT pg_advisory_unlock_all()")  # none, rather than some
            return False
        except psycopg.Error as exc:
            log.warning("lease unavailable", group=self.group.lease_name, error=repr(exc))
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
            log.warning("lease lost", group=self.group.lease_name, error=repr(exc))
            await self.release()
            return False

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except psycopg.Error as exc:  # already broken: the server has dropped the lock with it
                log.debug("closing the lease connection failed", error=repr(exc))


async def holders(conn: psycopg.AsyncConnection[Any], projections: Iterable[str]) -> dict[str, tuple[bool, int]]:
    """Projection's lease name (`timeline`, or `timeline@1` in a partition) -> (held by a process, processes on
    standby for it), from the lease connections in this database: a connection holding no lock waits for the
    group it names."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            """SELECT split_part(a.application_name, ':', 3), array_remove(array_agg(l.objid::bigint), NULL)
           FROM pg_stat_activity a
           LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                AND l.classid = %s AND l.objsubid = 2
           WHERE a.datname = current_database() AND a.application_name LIKE %s
           GROUP BY a.pid, 1""",
            (LEASE_NAMESPACE, f"{APPLICATION_NAME}:%"),
        )
        connections = [(str(group), {int(key) for key in keys}) for group, keys in await cur.fetchall()]
    held = set().union(*(keys for _, keys in connections))
    return {
        name: (lease_key(name) in held, sum(1 for group, keys in connections if not keys and group_covers(group, name)))
        for name in projections
    }
