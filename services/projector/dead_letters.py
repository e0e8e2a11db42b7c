"""Events a projection cannot decode, validate or apply: kept with their reason, never silently dropped."""

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from services.projector.messages import StreamMessage


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
