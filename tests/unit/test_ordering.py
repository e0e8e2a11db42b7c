"""The applier's ordering and deferral logic against a fake stream: which fetched messages apply now."""

from __future__ import annotations

from services.projector.messages import StreamMessage
from services.projector.ordering import plan


class FakeStream:
    """The sequences a stream still holds (deleted ones are gaps)."""

    def __init__(self, *held: int) -> None:
        self.held = sorted(held)

    async def next_in_stream(self, seq: int) -> int | None:
        return next((s for s in self.held if s >= seq), None)


def messages(*seqs: int) -> list[StreamMessage]:
    return [StreamMessage(seq=s, subject="crisis.events.x.StatementIssued", data=b"") for s in seqs]


async def test_messages_after_the_checkpoint_apply_in_stream_order_whatever_the_fetch_order() -> None:
    result = await plan(messages(3, 1, 2), 0, FakeStream(1, 2, 3).next_in_stream)
    assert ([m.seq for m in result.todo], result.skipped, result.deferred) == ([1, 2, 3], 0, 0)


async def test_messages_at_or_below_the_checkpoint_are_skipped() -> None:
    result = await plan(messages(4, 5, 6, 7), 5, FakeStream(*range(1, 8)).next_in_stream)
    assert ([m.seq for m in result.todo], result.skipped, result.deferred) == ([6, 7], 2, 0)


async def test_a_message_after_one_still_in_the_stream_is_deferred_with_all_after_it() -> None:
    """Sequence 2 was NAKed and waits for its redelivery: 3 and 4 must not move the checkpoint past it."""
    result = await plan(messages(1, 3, 4), 0, FakeStream(1, 2, 3, 4).next_in_stream)
    assert ([m.seq for m in result.todo], result.skipped, result.deferred) == ([1], 0, 2)


async def test_a_gap_left_by_a_deleted_message_is_not_waited_for() -> None:
    result = await plan(messages(1, 3), 0, FakeStream(1, 3).next_in_stream)
    assert ([m.seq for m in result.todo], result.deferred) == ([1, 3], 0)


async def test_a_message_delivered_twice_in_one_batch_is_applied_once() -> None:
    result = await plan(messages(1, 2, 2), 0, FakeStream(1, 2).next_in_stream)
    assert ([m.seq for m in result.todo], result.skipped) == ([1, 2], 1)


async def test_the_stream_is_asked_only_when_a_message_does_not_follow_the_one_before() -> None:
    asked: list[int] = []

    async def next_in_stream(seq: int) -> int | None:
        asked.append(seq)
        return seq

    await plan(messages(11, 12, 13), 10, next_in_stream)
    assert asked == []
