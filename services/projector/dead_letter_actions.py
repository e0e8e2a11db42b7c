"""An operator's decisions on a dead letter: retry it after a fix, or discard it. Each is one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from services.projector.applier import DUPLICATE, apply_one
from services.projector.checkpoints import lock_projection
from services.projector.dead_letters import DeadLetterError, open_dead_letter, record_dead_letter, resolve
from services.projector.projection import Projection


async def retry(
    conn: AsyncConnection[Any], dead_letter_id: int, projections: Mapping[str, Projection], note: str | None = None
) -> str | None:
    """Apply the event again; None when it now applies (it is marked retried), else why not (still open)."""
    async with conn.transaction():
        letter = await open_dead_letter(conn, dead_letter_id)
        projection = projections.get(letter.projection)
        if projection is None:
            raise DeadLetterError(
                f"dead letter {dead_letter_id} belongs to {letter.projection!r}, no longer a projection"
            )
        await lock_projection(conn, projection.name)  # one applier at a time, as for the live consumer
        error = await apply_one(conn, projection, letter.message())
        if error is not None and error != DUPLICATE:
            await record_dead_letter(conn, projection.name, letter.message(), error)
            return error
        await resolve(conn, dead_letter_id, "retried", note)
        return None


async def discard(conn: AsyncConnection[Any], dead_letter_id: int, note: str | None = None) -> None:
    async with conn.transaction():
        await open_dead_letter(conn, dead_letter_id)
        await resolve(conn, dead_letter_id, "discarded", note)
