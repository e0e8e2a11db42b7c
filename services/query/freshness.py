"""Read-your-writes: a reader passes the stream position of its write, and the read waits until the read models
have reached it, up to a bound; past the bound it answers with what it has and says so (`X-Stale: true`).

A position beyond the end of the stream was never written: waiting for it could only time out, so it is refused.

A waiting read sleeps until the projector announces a checkpoint at or past its position (progress.py), then reads
the position again; a safety poll every `poll_s` covers an announcement lost without the connection noticing. While
the process is not listening, announcements are lost: the read polls every POLL_WITHOUT_LISTENER_S instead. Each read
of the position takes a pooled connection only for that read, so waiting holds none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from services.common.database import DictConnection
from services.query.database import ReadModels
from services.query.progress import ProjectorProgress
from services.query.stream_end import StreamEnd

POSITION_HEADER = "X-Position"
MIN_POSITION_HEADER = "X-Min-Position"
STALE_HEADER = "X-Stale"
POLL_WITHOUT_LISTENER_S = 0.02  # the projector commits a batch every few tens of milliseconds under load


# How far the read models have got: the lowest stream sequence every projection has applied (0: none).
POSITION = "SELECT COALESCE(min(last_seq), 0) AS position FROM projection_checkpoints"


async def read_models_position(conn: DictConnection) -> int:
    cur = await conn.execute(POSITION)
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

    @classmethod
    def at(cls, position: int, wanted: int | None) -> Freshness:
        """The read models at `position`, for a reader who wanted `wanted` (None: any)."""
        return cls(position, stale=wanted is not None and position < wanted)

    @property
    def headers(self) -> dict[str, str]:
        return {POSITION_HEADER: str(self.position), **({STALE_HEADER: "true"} if self.stale else {})}


@dataclass(frozen=True)
class PositionWaiter:
    read_models: ReadModels
    stream_end: StreamEnd
    progress: ProjectorProgress
    bound_s: float
    poll_s: float  # the safety poll while listening

    async def wait_for(self, wanted: int) -> None:
        """Return once the read models' position is at least `wanted`, or the bound has passed; raises
        BeyondStreamEnd for a position the stream does not have."""
        with self.progress.watch(wanted) as announced:  # first: an announcement after the read below wakes it
            if await self._position() >= wanted:
                return
            if (last_seq := await self.stream_end.beyond(wanted)) is not None:
                raise BeyondStreamEnd(wanted, last_seq)
            deadline = time.monotonic() + self.bound_s
            while (left_s := deadline - time.monotonic()) > 0:
                poll_s = self.poll_s if self.progress.listening else POLL_WITHOUT_LISTENER_S
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left_s, poll_s)):
                        await announced.wait()
                announced.clear()  # before the read: an announcement after it wakes the next wait
                if await self._position() >= wanted:
                    return

    async def _position(self) -> int:
        async with self.read_models.connection() as conn:
            return await read_models_position(conn)
