"""Events a projection cannot decode, validate or apply: kept with their reason, never silently dropped.

An operator lists and inspects them, retries one after a fix (it is applied at its original stream position,
with the same dedupe as any event), or discards it; either decision is recorded, with an optional note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from services.projector.messages import StreamMessage
from services.projector.operator_errors import OperatorError

Status = Literal["open", "retried", "discarded"]


class DeadLetterError(OperatorError):
    """An operator's request that cannot be carried out (unknown id, already resolved); nothing was changed."""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    projection: str
    stream_seq: int
    subject: str
    headers: dict[str, str]
    payload: bytes
    error: str
    attempts: int
    first_seen: datetime
    last_seen: datetime
    status: Status
    resolved_at: datetime | None
    note: str | None

    def message(self) -> StreamMessage:
        return StreamMessage(seq=self.stream_seq, subject=self.subject, data=self.payload, headers=self.headers)


async def record_dead_letter(conn: AsyncConnection[Any], projection: str, message: StreamMessage, error: str) -> None:
    await conn.execute(
        """
        INSERT INTO dead_letters (projection, stream_seq, subject, headers, payload, error)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (projection, stream_seq) DO UPDATE SET
            error = EXCLUDED.error, attempts = dead_letters.attempts + 1, last_seen = now()
        """,
        (projection, message.seq, message.subject, Jsonb(message.headers), message.data, error),
    )


_COLUMNS = """id, projection, stream_seq, subject, headers, payload, error, attempts, first_seen, last_seen,
              status, resolved_at, note"""


async def list_dead_letters(
    conn: AsyncConnection[Any], projection: str | None = None, status: Status | None = "open"
) -> list[DeadLetter]:
    async with conn.cursor(row_factory=class_row(DeadLetter)) as cur:
        await cur.execute(
            f"""SELECT {_COLUMNS} FROM dead_letters
                WHERE (%(p)s::text IS NULL OR projection = %(p)s) AND (%(s)s::text IS NULL OR status = %(s)s)
                ORDER BY projection, stream_seq""",
            {"p": projection, "s": status},
        )
        return await cur.fetchall()


async def get_dead_letter(conn: AsyncConnection[Any], dead_letter_id: int, *, lock: bool = False) -> DeadLetter:
    async with conn.cursor(row_factory=class_row(DeadLetter)) as cur:
        lock_clause = "FOR UPDATE" if lock else ""
        await cur.execute(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s {lock_clause}", (dead_letter_id,))
        found = await cur.fetchone()
    if found is None:
        raise DeadLetterError(f"no dead letter with id {dead_letter_id}")
    return found


async def open_dead_letter(conn: AsyncConnection[Any], dead_letter_id: int) -> DeadLetter:
    """The dead letter, locked until COMMIT; refused unless it still awaits a decision."""
    found = await get_dead_letter(conn, dead_letter_id, lock=True)
    if found.status != "open":
        raise DeadLetterError(f"dead letter {dead_letter_id} was already {found.status} at {found.resolved_at}")
    return found


async def resolve(conn: AsyncConnection[Any], dead_letter_id: int, status: Status, note: str | None) -> None:
    await conn.execute(
        "UPDATE dead_letters SET status = %s, resolved_at = now(), note = %s WHERE id = %s",
        (status, note, dead_letter_id),
    )


async def open_counts(conn: AsyncConnection[Any]) -> dict[str, int]:
    """Dead letters awaiting a decision, by projection."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT projection, count(*) FROM dead_letters WHERE status = 'open' GROUP BY projection")
        return {str(name): int(count) for name, count in await cur.fetchall()}
