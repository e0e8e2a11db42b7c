"""Which messages of a fetched batch may be applied now, in stream order, and which must wait.

Messages at or below the checkpoint were applied before (a redelivery after a crash between COMMIT and ack) and
are skipped. A message that does not follow the checkpoint while an earlier event is still in the stream (NAKed,
waiting for its redelivery) is deferred, never applied out of order: applying it would move the checkpoint past
the earlier event and skip it for good. Gaps left by deleted messages are not waited for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from services.projector.messages import StreamMessage

log = structlog.get_logger(__name__)

# The first stream sequence at or after the given one that the stream still holds, or None past its end.
NextInStream = Callable[[int], Awaitable[int | None]]


@dataclass(frozen=True)
class Plan:
    todo: list[StreamMessage]  # to apply now, in stream order, each following the one before
    skipped: int  # at or below the checkpoint
    deferred: int  # after an earlier event that is still to come: NAK them


async def plan(messages: Sequence[StreamMessage], checkpoint: int, next_in_stream: NextInStream) -> Plan:
    todo: list[StreamMessage] = []
    skipped = 0
    last = checkpoint
    ordered = sorted(messages, key=lambda m: m.seq)
    for index, message in enumerate(ordered):
        if message.seq <= last:
            skipped += 1
            continue
        if await _earlier_event_pending(message.seq, last, next_in_stream):
            log.info("earlier events pending; deferring", checkpoint=last, first_deferred=message.seq)
            return Plan(todo, skipped, len(ordered) - index)
        todo.append(message)
        last = message.seq
    return Plan(todo, skipped, 0)


async def _earlier_event_pending(seq: int, checkpoint: int, next_in_stream: NextInStream) -> bool:
    if seq == checkpoint + 1:
        return False
    first_present = await next_in_stream(checkpoint + 1)
    return first_present is not None and first_present < seq
