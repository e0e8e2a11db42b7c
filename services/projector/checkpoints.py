"""Each projection's checkpoint: the last stream sequence it applied, committed in the same transaction as its rows."""

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row


async def lock_checkpoint(conn: AsyncConnection[Any], projection: str) -> int:
    """Read the checkpoint and hold its row lock until COMMIT, so two appliers never interleave."""
    await conn.execute(
        "INSERT INTO projection_checkpoints (projection) VALUES (%s) ON CONFLICT DO NOTHING", (projection,)
    )
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT last_seq FROM projection_checkpoints WHERE projection = %s FOR UPDATE", (projection,))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def register_checkpoint(conn: AsyncConnection[Any], projection: str) -> int:
    """The checkpoint, created at 0 if new: readers take the lowest checkpoint as the read models' position, so
    a projection that has not applied anything yet must count, not be missing."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO projection_checkpoints (projection) VALUES (%s) ON CONFLICT DO NOTHING", (projection,)
        )
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute("SELECT last_seq FROM projection_checkpoints WHERE projection = %s", (projection,))
            row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def save_checkpoint(conn: AsyncConnection[Any], projection: str, last_seq: int) -> None:
    await conn.execute(
        "UPDATE projection_checkpoints SET last_seq = %s, updated_at = now() WHERE projection = %s",
        (last_seq, projection),
    )
