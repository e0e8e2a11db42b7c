"""Each projection's checkpoint: the last stream sequence it applied, committed in the same transaction as its rows.

A partitioned stream has a checkpoint per projection and partition: the partition's events up to it are applied.

Read models fed together lock and move their checkpoints with one statement each per batch. They usually hold
the same position; one can be ahead (just swapped in by a replay) or behind (just added): each skips what it has.

Every move of a checkpoint NOTIFYs PROGRESS_CHANNEL with the new position, in the same statement: PostgreSQL
delivers it at COMMIT, so a reader waiting for a position (read-your-writes) wakes once the rows are visible, never
before. The payload is the moved checkpoint, not the read models' position (the lowest of every checkpoint): the
last move that brings the lowest to N announces N or more, so a reader waiting for N re-reads on such an announcement.
"""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import tuple_row

from services.common.database import PROGRESS_CHANNEL
from services.projector.partition import WHOLE_STREAM, Partition

# Announces the highest checkpoint the UPDATE in `moved` set, if it set any.
_ANNOUNCE = f"SELECT pg_notify('{PROGRESS_CHANNEL}', max(last_seq)::text) FROM moved HAVING count(*) > 0"


async def _create(conn: AsyncConnection[Any], projections: Sequence[str], partition: Partition) -> None:
    """Every partition's row, not only this one's: readers take the lowest checkpoint as the read models'
    position, so a partition no projector has fed yet must count, not be missing."""
    await conn.execute(
        """INSERT INTO projection_checkpoints (projection, partition)
           SELECT p, k FROM unnest(%s::text[]) AS p, generate_series(0, %s - 1) AS k ON CONFLICT DO NOTHING""",
        (list(projections), partition.count),
    )


async def lock_checkpoints(
    conn: AsyncConnection[Any], projections: Sequence[str], partition: Partition = WHOLE_STREAM
) -> dict[str, int]:
    """Read the checkpoints and hold their row locks until COMMIT, so two appliers never interleave.

    One statement per batch: the rows exist already (a group registers them when its consumer is (re)created, a
    replay's shadow gets its own as it is opened). Rows still missing (an applier that registered none) are
    created, every partition's, and locked then."""
    checkpoints = await _lock(conn, projections, partition)
    if checkpoints.keys() < set(projections):
        await _create(conn, projections, partition)
        checkpoints = await _lock(conn, projections, partition)
    return checkpoints


async def _lock(conn: AsyncConnection[Any], projections: Sequence[str], partition: Partition) -> dict[str, int]:
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(  # ORDER BY: every applier takes the locks in the same order, so none deadlocks
            """SELECT projection, last_seq FROM projection_checkpoints WHERE projection = ANY(%s) AND partition = %s
               ORDER BY projection FOR UPDATE""",
            (list(projections), partition.index),
        )
        return {str(name): int(seq) for name, seq in await cur.fetchall()}


async def lock_projection(conn: AsyncConnection[Any], projection: str, schema: str | None = None) -> int:
    """Hold the row locks of the projection's checkpoints in every partition until COMMIT (its appliers wait);
    returns the highest of them. `schema` names the live tables' when the search path leads elsewhere."""
    table = sql.Identifier(*(() if schema is None else (schema,)), "projection_checkpoints")
    await conn.execute(
        sql.SQL("INSERT INTO {} (projection) VALUES (%s) ON CONFLICT DO NOTHING").format(table), (projection,)
    )
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            sql.SQL("SELECT last_seq FROM {} WHERE projection = %s ORDER BY partition FOR UPDATE").format(table),
            (projection,),
        )
        return max(int(row[0]) for row in await cur.fetchall())


async def register_checkpoints(
    conn: AsyncConnection[Any], projections: Sequence[str], partition: Partition = WHOLE_STREAM
) -> dict[str, int]:
    """The partition's checkpoints, created at 0 if new (with every other partition's)."""
    async with conn.transaction():
        await _create(conn, projections, partition)
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(
                "SELECT projection, last_seq FROM projection_checkpoints WHERE projection = ANY(%s) AND partition = %s",
                (list(projections), partition.index),
            )
            return {str(name): int(seq) for name, seq in await cur.fetchall()}


async def save_checkpoints(
    conn: AsyncConnection[Any], projections: Sequence[str], last_seq: int, partition: Partition = WHOLE_STREAM
) -> None:
    """Every one of them has applied up to `last_seq` (one already past it stays where it is). Announced for the
    live tables (in `public`) only, not a replay's shadow (its schema leads the search path): its progress is no
    reader's, and PostgreSQL serialises the commits of notifying transactions, which would queue the shadows'
    concurrent commits one behind the other."""
    await conn.execute(
        f"""WITH moved AS (UPDATE projection_checkpoints SET last_seq = %s, updated_at = now()
                           WHERE projection = ANY(%s) AND partition = %s AND last_seq < %s RETURNING last_seq)
            {_ANNOUNCE} AND current_schema() = 'public'""",
        (last_seq, list(projections), partition.index, last_seq),
    )


async def carry_over_checkpoint(conn: AsyncConnection[Any], projection: str, last_seq: int) -> None:
    """A rebuilt projection's tables went live: its live checkpoints (of every partition) take the rebuild's."""
    await conn.execute(
        f"""WITH moved AS (UPDATE public.projection_checkpoints SET last_seq = %s, updated_at = now()
                           WHERE projection = %s RETURNING last_seq)
            {_ANNOUNCE}""",
        (last_seq, projection),
    )
