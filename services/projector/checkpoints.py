"""Each projection's checkpoint: the last stream sequence it applied, committed in the same transaction as its rows.

Read models fed together lock and move their checkpoints with one statement each per batch. They usually hold
the same position; one can be ahead (just swapped in by a replay) or behind (just added): each skips what it has.
"""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row


async def _create(conn: AsyncConnection[Any], projections: Sequence[str]) -> None:
    await conn.execute(
        "INSERT INTO projection_checkpoints (projection) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
        (list(projections),),
    )


async def lock_checkpoints(conn: AsyncConnection[Any], projections: Sequence[str]) -> dict[str, int]:
    """Read the checkpoints and hold their row locks until COMMIT, so two appliers never interleave."""
    await _create(conn, projections)
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(  # ORDER BY: every applier takes the locks in the same order, so none deadlocks
            """SELECT projection, last_seq FROM projection_checkpoints WHERE projection = ANY(%s)
               ORDER BY projection FOR UPDATE""",
            (list(projections),),
        )
        return {str(name): int(seq) for name, seq in await cur.fetchall()}


async def lock_checkpoint(conn: AsyncConnection[Any], projection: str) -> int:
    return (await lock_checkpoints(conn, [projection]))[projection]


async def register_checkpoints(conn: AsyncConnection[Any], projections: Sequence[str]) -> dict[str, int]:
    """The checkpoints, created at 0 if new: readers take the lowest checkpoint as the read models' position, so
    a projection that has not applied anything yet must count, not be missing."""
    async with conn.transaction():
        await _create(conn, projections)
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "SELECT projection, last_seq FROM projection_checkpoints WHERE projection = ANY(%s)",
                (list(projections),),
            )
            return {str(name): int(seq) for name, seq in await cur.fetchall()}


async def save_checkpoints(conn: AsyncConnection[Any], projections: Sequence[str], last_seq: int) -> None:
    """Every one of them has applied up to `last_seq` (one already past it stays where it is)."""
    await conn.execute(
        """UPDATE projection_checkpoints SET last_seq = %s, updated_at = now()
           WHERE projection = ANY(%s) AND last_seq < %s""",
        (last_seq, list(projections), last_seq),
    )
