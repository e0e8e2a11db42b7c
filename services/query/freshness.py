"""Read-your-writes: a reader passes the stream position of its write, and the read waits until the read models
have reached it, up to a bound; past the bound it answers with what it has and says so (`X-Stale: true`).

A position beyond the end of the stream was never written: waiting for it could only time out, so it is refused.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from services.common.database import DictConnection
from services.query.stream_end import StreamEnd

POSITION_HEADER = "X-Position"
MIN_POSITION_HEADER = "X-Min-Position"
STALE_HEADER = "X-Stale"
POLL_INTERVAL_S = 0.02  # the projector commits a batch every few tens of milliseconds under load


async def read_models_position(conn: DictConnection) -> int:
    """How far the read models have got: the lowest stream sequence every projection has applied (0: none)."""
    cur = await conn.execute("SELECT COALESCE(min(last_seq), 0) AS position FROM projection_checkpoints")
    row = await cur.fetchone()
    assert row is not None and isinstance(row["position"], int)
    return row["position"]


class BeyondStreamEnd(ValueError):
    def __init__(self, wanted: int, last_seq: int) -> None:
        super().__init__(f"position {wanted} is beyond the end of the stream (last sequence {last_seq})")


@dataclass(frozen=True)
class Freshness:
    position: int  # the read models' position when the data was read (the lowest projection checkpoint)
    stale: bool  # a wanted position was not reached within the bound

    @property
    def headers(self) -> dict[str, str]:
        return {POSITION_HEADER: str(self.position), **({STALE_HEADER: "true"} if self.stale else {})}


@dataclass(frozen=True)
class PositionWaiter:
    stream_end: StreamEnd
    bound_s: float

    async def reach(self, conn: DictConnection, wanted: int | None) -> Freshness:
        """The read models' position once it is at least `wanted` (or the bound has passed); raises
        BeyondStreamEnd for a position the stream does not have."""
        position = await read_models_position(conn)
        if wanted is None or position >= wanted:
            return Freshness(position, stale=False)
        last_seq = await self.stream_end.last_seq()
        if last_seq is not None and wanted > last_seq:
            raise BeyondStreamEnd(wanted, last_seq)
        deadline = time.monotonic() + self.bound_s
        while position < wanted and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            position = await read_models_position(conn)
        return Freshness(position, stale=position < wanted)
