"""The query service's end of the stream: NATS is asked only for a position past the highest end seen before."""

from __future__ import annotations

from services.common.settings import Settings
from services.query.stream_end import StreamEnd


def answering(ends: list[int | None]) -> tuple[StreamEnd, list[int | None]]:
    """A StreamEnd whose NATS answers `ends` in turn, and the list of the answers it asked for."""
    stream_end = StreamEnd(Settings(nats_url="nats://127.0.0.1:1"))
    asked: list[int | None] = []

    async def last_seq() -> int | None:
        asked.append(ends[len(asked)])
        return asked[-1]

    stream_end._last_seq = last_seq  # type: ignore[method-assign]
    return stream_end, asked


async def test_a_position_within_an_end_seen_before_is_not_asked_again() -> None:
    stream_end, asked = answering([10])
    assert await stream_end.beyond(7) is None
    assert [await stream_end.beyond(wanted) for wanted in (1, 9, 10)] == [None, None, None]
    assert asked == [10]


async def test_a_position_past_the_end_seen_is_asked_and_refused_only_beyond_the_real_end() -> None:
    stream_end, asked = answering([10, 12, 12])
    assert await stream_end.beyond(10) is None
    assert await stream_end.beyond(12) is None  # the stream has grown since: asked, and within
    assert await stream_end.beyond(13) == 12
    assert asked == [10, 12, 12]


async def test_an_unknown_end_refuses_nothing_and_keeps_nothing() -> None:
    stream_end, asked = answering([None, 5])
    assert await stream_end.beyond(3) is None
    assert await stream_end.beyond(6) == 5
    assert asked == [None, 5]
