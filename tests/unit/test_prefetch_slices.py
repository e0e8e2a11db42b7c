"""The batch fetched ahead is decoded in slices: between them the event loop runs the batch being applied (its
PostgreSQL round trips), instead of waiting for the whole batch's decoding. What the read models work out from a
message alone is done then too."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.catalogue import parse_event
from schemas.envelope import Event
from services.common.eventstream import DEFAULT_STREAM
from services.projector.group import ProjectionGroup
from services.projector.prefetch import DECODE_SLICE, Prefetcher
from services.projector.projection import Position, Projection
from tests.factories import make_event, publish_args

BATCH = 3 * DECODE_SLICE


@dataclass
class FakeMsg:
    """What StreamMessage.from_nats reads of a nats-py message."""

    seq: int
    subject: str
    payload: bytes
    headers: dict[str, str]

    @property
    def data(self) -> bytes:
        return self.payload

    @property
    def metadata(self) -> Any:
        return _Metadata(_Sequence(self.seq), num_pending=0)


@dataclass
class _Sequence:
    stream: int


@dataclass
class _Metadata:
    sequence: _Sequence
    num_pending: int


class FakeSubscription:
    def __init__(self, msgs: list[FakeMsg]) -> None:
        self.msgs = msgs

    async def fetch(self, batch: int, **_: float) -> list[FakeMsg]:
        return self.msgs[:batch]


async def test_the_event_loop_runs_between_slices_of_the_batch_decoded_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = 0

    def counting_parse(data: bytes) -> Any:
        nonlocal decoded
        decoded += 1
        return parse_event(data)

    monkeypatch.setattr("services.projector.messages.parse_event", counting_parse)
    msgs = [FakeMsg(seq=i + 1, **publish_args(make_event(f"slices-{i % 3}", minute=i))) for i in range(BATCH)]
    prefetcher = Prefetcher(FakeSubscription(msgs), BATCH, wait_s=1.0, stream=DEFAULT_STREAM)
    seen_by_the_loop: list[int] = []
    fetching = asyncio.create_task(prefetcher.next())
    while not fetching.done():
        seen_by_the_loop.append(decoded)
        await asyncio.sleep(0)

    batch = await fetching
    assert [message.seq for _, message in batch] == list(range(1, BATCH + 1))
    assert decoded == BATCH
    # The loop ran after each slice, never within one, and not only before and after the whole batch.
    partly = sorted({n for n in seen_by_the_loop if 0 < n < BATCH})
    assert partly == list(range(DECODE_SLICE, BATCH, DECODE_SLICE))


async def test_what_read_models_work_out_from_a_message_alone_is_done_before_it_is_handed_out() -> None:
    done: list[int] = []
    projection = Projection("a", tables=())

    @projection.of_each_event
    def row(event: Event[Any], pos: Position) -> int:
        done.append(pos.seq)
        return pos.seq

    msgs = [FakeMsg(seq=i + 1, **publish_args(make_event("ahead", minute=i))) for i in range(BATCH)]
    msgs[1].payload = b"not an event"
    group = ProjectionGroup.of([projection])
    prefetcher = Prefetcher(
        FakeSubscription(msgs), BATCH, wait_s=1.0, stream=DEFAULT_STREAM, work_ahead=group.work_ahead
    )

    batch = await prefetcher.next()

    assert done == [seq for seq in range(1, BATCH + 1) if seq != 2]  # the undecodable one goes to dead letters
    for _, message in batch[2:]:
        assert not isinstance(message.event, str)
        assert row(message.event, message.position) == message.seq
    assert len(done) == BATCH - 1  # found done, not done again
