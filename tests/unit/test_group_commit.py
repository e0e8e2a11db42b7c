"""GroupCommit's grouping, with a stand-in for the publish (what JetStream guarantees is tested against a real
nats-server in tests/integration/test_atomic_batches.py): which events go together, and who is told what."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from schemas.envelope import Event
from services.common.http import Unavailable
from services.ingest.eventlog import Published
from services.ingest.group_commit import GroupCommit
from tests.factories import make_event


class Log:
    """Publishes in groups as asked, each held until released; numbers the events it stores."""

    def __init__(self, refuse: set[uuid.UUID] | None = None, down: bool = False) -> None:
        self.groups: list[list[uuid.UUID]] = []
        self.release = asyncio.Event()
        self.refuse = refuse or set()
        self.down = down

    async def publish(self, events: Sequence[Event[Any]]) -> list[Published]:
        self.groups.append([e.event_id for e in events])
        await self.release.wait()
        if self.down:
            raise Unavailable("NATS is down")
        if self.refuse & {e.event_id for e in events}:
            raise ValueError("refused")
        base = sum(len(g) for g in self.groups[:-1])
        return [
            Published(event_id=e.event_id, seq=base + i + 1, duplicate=False, subject="s") for i, e in enumerate(events)
        ]


def singles(count: int) -> list[Event[Any]]:
    return [make_event("kg", minute=i) for i in range(count)]


async def started(group_commit: GroupCommit, events: list[Event[Any]]) -> list[asyncio.Task[Published]]:
    tasks = [asyncio.create_task(group_commit.publish(e)) for e in events]
    await asyncio.sleep(0)  # every publish has run up to its wait
    return tasks


async def test_a_lone_event_goes_at_once_and_those_arriving_meanwhile_go_together() -> None:
    log = Log()
    group_commit = GroupCommit(log.publish, most=100)
    first, *rest = singles(6)

    tasks = await started(group_commit, [first])
    await asyncio.sleep(0)
    assert log.groups == [[first.event_id]]  # sent alone, before anything else came
    tasks += await started(group_commit, rest)
    log.release.set()
    results = await asyncio.gather(*tasks)

    assert log.groups == [[first.event_id], [e.event_id for e in rest]]
    assert [r.event_id for r in results] == [first.event_id] + [e.event_id for e in rest]
    assert [r.seq for r in results] == [1, 2, 3, 4, 5, 6]


async def test_a_group_holds_at_most_its_limit() -> None:
    log = Log()
    group_commit = GroupCommit(log.publish, most=2)
    events = singles(5)

    tasks = await started(group_commit, events)
    log.release.set()
    await asyncio.gather(*tasks)

    assert [len(group) for group in log.groups] == [2, 2, 1]
    assert [i for group in log.groups for i in group] == [e.event_id for e in events]


async def test_an_unavailable_log_fails_the_group_and_those_held_meanwhile() -> None:
    log = Log(down=True)
    group_commit = GroupCommit(log.publish, most=100)

    tasks = await started(group_commit, singles(3))
    await asyncio.sleep(0)
    tasks += await started(group_commit, singles(2))  # held while the first group is on its way
    log.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert [type(o) for o in outcomes] == [Unavailable] * 5
    assert len(log.groups) == 1  # neither tried again one by one nor sent as a group of their own: NATS is down


async def test_a_group_refused_otherwise_is_sent_again_event_by_event_and_only_the_bad_one_fails() -> None:
    events = singles(4)
    log = Log(refuse={events[2].event_id})
    group_commit = GroupCommit(log.publish, most=100)

    tasks = await started(group_commit, events)
    log.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert [type(o) for o in outcomes] == [Published, Published, ValueError, Published]
    assert log.groups[0] == [e.event_id for e in events]
    assert sorted(log.groups[1:]) == sorted([e.event_id] for e in events)


async def test_stopping_while_a_group_is_on_its_way_tells_every_waiting_request() -> None:
    log = Log()
    group_commit = GroupCommit(log.publish, most=1)
    tasks = await started(group_commit, singles(3))
    await asyncio.sleep(0)
    [sender] = [t for t in asyncio.all_tasks() if t.get_name() == "ingest-group-commit"]

    sender.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert [type(o) for o in outcomes] == [Unavailable] * 3
    assert all("stopping" in str(o) for o in outcomes)


@pytest.mark.parametrize("count", [1, 3])
async def test_the_next_event_after_a_quiet_spell_starts_a_new_group(count: int) -> None:
    log = Log()
    log.release.set()
    group_commit = GroupCommit(log.publish, most=100)

    await asyncio.gather(*await started(group_commit, singles(count)))
    await group_commit.publish(singles(1)[0])

    assert [len(group) for group in log.groups] == [count, 1]
