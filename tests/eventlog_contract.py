"""What every event log promises ingest (services/ingest/eventlog.py), as one suite run against each implementation.

As faststream runs the same broker tests on its in-memory broker and on a real server, the in-memory log runs this
suite in tests/unit/ and the NATS log runs it in tests/integration/ on a real nats-server: the fake that the fast
HTTP tests rely on behaves as the real log does, and the guarantees themselves are proven on the server.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.envelope import Event
from services.ingest.errors import EventIdTaken, IncidentMoved
from services.ingest.eventlog import EventLog
from tests.conftest import incident_id
from tests.factories import make_event


def written(incident: str, writer: str = "alice", quote: str = "Stay calm.", minute: int = 0) -> Event[Any]:
    """An event as ingest records it for `writer`."""
    return make_event(incident, "StatementIssued", minute=minute, quote=quote).model_copy(
        update={"recorded_by": writer}
    )


def same_id(event: Event[Any], like: Event[Any]) -> Event[Any]:
    return event.model_copy(update={"event_id": like.event_id})


class EventLogContract:
    """Subclasses provide the `event_log` fixture: the implementation under test, started, on an empty stream."""

    async def test_events_are_stored_in_order(self, event_log: EventLog) -> None:
        incident = incident_id()
        events = [written(incident, minute=i) for i in range(5)]

        results = await event_log.publish(events)

        assert [r.event_id for r in results] == [e.event_id for e in events]
        assert [r.seq for r in results] == sorted({r.seq for r in results})
        assert not any(r.duplicate for r in results)
        assert {r.subject for r in results} == {f"crisis.events.{incident}.StatementIssued"}

    async def test_a_true_retry_is_a_duplicate_at_the_stored_position(self, event_log: EventLog) -> None:
        event = written(incident_id())
        [first] = await event_log.publish([event])
        # ingest stamps recorded_at and may take the correlation id anew on a retry: still the same event
        retry = event.model_copy(update={"recorded_at": event.recorded_at.replace(year=2021), "correlation_id": "r2"})

        [again] = await event_log.publish([retry])

        assert again == first.model_copy(update={"duplicate": True})

    async def test_an_id_stored_by_another_writer_or_with_another_body_is_refused(self, event_log: EventLog) -> None:
        incident = incident_id()
        original = written(incident, writer="mallory", quote="First!")
        [stored] = await event_log.publish([original])

        for intruder, says in [
            (same_id(written(incident, writer="alice", quote="First!"), like=original), "another writer"),
            (same_id(written(incident, writer="mallory", quote="Changed"), like=original), "different body"),
        ]:
            with pytest.raises(EventIdTaken) as refused:
                await event_log.publish([intruder])
            [taken] = refused.value.taken
            assert (taken.index, taken.event_id) == (0, original.event_id)
            assert says in taken.reason
            assert refused.value.published == []
        assert await event_log.publish([original]) == [stored.model_copy(update={"duplicate": True})]

    async def test_a_batch_refuses_its_taken_ids_and_says_where_the_rest_landed(self, event_log: EventLog) -> None:
        incident = incident_id()
        original = written(incident, writer="alice", quote="First!")
        await event_log.publish([original])
        batch = [written(incident, minute=1), same_id(written(incident, quote="Changed"), like=original)]

        with pytest.raises(EventIdTaken) as refused:
            await event_log.publish(batch)

        assert [t.index for t in refused.value.taken] == [1]
        [landed] = refused.value.published
        assert landed.event_id == batch[0].event_id and not landed.duplicate

    async def test_a_write_at_the_expected_position_is_stored_and_a_stale_one_refused(
        self, event_log: EventLog
    ) -> None:
        incident = incident_id()
        [opened] = await event_log.publish([written(incident)], expected_position=0)
        [next_one] = await event_log.publish([written(incident, minute=1)], expected_position=opened.seq)

        with pytest.raises(IncidentMoved) as moved:
            await event_log.publish([written(incident, minute=2), written(incident, minute=3)], opened.seq)

        assert (moved.value.expected, moved.value.current) == (opened.seq, next_one.seq)
        # the stale batch stored nothing: the incident is still where the last write left it
        assert await event_log.publish([written(incident, minute=4)], expected_position=next_one.seq)

    async def test_a_retried_conditional_write_is_a_duplicate_not_a_conflict(self, event_log: EventLog) -> None:
        event = written(incident_id())
        [first] = await event_log.publish([event], expected_position=0)

        [again] = await event_log.publish([event], expected_position=0)

        assert again == first.model_copy(update={"duplicate": True})
