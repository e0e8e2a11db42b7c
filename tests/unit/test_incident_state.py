"""An incident's state folded from its events: every event tallied, the lifecycle events applied in stream order,
and the same state however the events are cut into batches (the projector folds a batch at a time onto the stored
row)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schemas.envelope import Event
from services.domain.incidents import fold
from tests.factories import BASE_TIME, make_event

INCIDENT = "kg-2020-protests"
OTHER = "kg-2020-strike"


def history() -> list[tuple[int, Event[Any]]]:
    """Two incidents interleaved, in stream order; the first one's events out of time order."""
    return [
        (10, make_event(INCIDENT, "StatementIssued", minute=30)),
        (11, make_event(INCIDENT, "IncidentOpened", minute=0, title="Protests", description="In Bishkek")),
        (12, make_event(OTHER, "StatementIssued", minute=5)),
        (13, make_event(INCIDENT, "StatementIssued", minute=-20)),
        (14, make_event(INCIDENT, "IncidentUpdated", minute=40, status="ongoing")),
        (15, make_event(INCIDENT, "IncidentUpdated", minute=45, title="Protests and unrest")),
        (16, make_event(INCIDENT, "ResultsAnnulled", minute=50)),
        (17, make_event(INCIDENT, "IncidentMerged", minute=60, into="kg-2020-unrest")),
    ]


def test_an_incident_is_its_events_tallied_and_its_lifecycle_applied_in_order() -> None:
    events = history()

    state = fold(events)[INCIDENT]

    assert (state.title, state.description, state.status) == ("Protests and unrest", "In Bishkek", "ongoing")
    assert state.merged_into == "kg-2020-unrest"
    assert state.event_count == 7
    assert state.counts_by_type == {
        "StatementIssued": 2,
        "IncidentOpened": 1,
        "IncidentUpdated": 2,
        "ResultsAnnulled": 1,
        "IncidentMerged": 1,
    }
    assert (state.first_occurred_at, state.last_occurred_at) == (
        BASE_TIME - timedelta(minutes=20),
        BASE_TIME + timedelta(minutes=60),
    )
    assert state.last_position == 17
    assert state.updated_at == events[-1][1].recorded_at
    assert fold(events)[OTHER].event_count == 1


@pytest.mark.parametrize("cuts", [[1], [2, 5], [1, 2, 3, 4, 5, 6, 7], [4]])
def test_an_incident_folded_batch_by_batch_is_the_incident_folded_at_once(cuts: list[int]) -> None:
    events = history()
    states: dict[str, Any] = {}

    for start, stop in zip([0, *cuts], [*cuts, len(events)], strict=True):
        states = fold(events[start:stop], states)

    assert states == fold(events)
