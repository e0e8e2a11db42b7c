"""An incident's state, folded from its events in stream order: the one rule behind the `incidents` projection
(one event at a time, onto the stored row) and behind an `as_of` read (every event recorded by then).

Every event counts, by type, widens the time span and moves the position: its tally. The lifecycle events set the
rest: IncidentOpened the title, status and description; IncidentUpdated only the fields it gives; IncidentMerged
the incident it duplicates. An `as_of` read tallies in SQL (the same sums, minimum and maximum over the events'
columns) and folds only the lifecycle events onto that tally (`with_lifecycle`), so its cost does not grow with
the incident's events in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from schemas.envelope import Event
from schemas.events.incidents import IncidentMerged, IncidentOpened, IncidentUpdated
from services.domain.utc import UtcDatetime, as_utc


class Incident(BaseModel):
    incident_id: str
    title: str | None = Field(description="From IncidentOpened; null until that event is applied.")
    status: str | None
    description: str | None
    merged_into: str | None = Field(description="Set when the incident was merged into another (a duplicate).")
    event_count: int
    counts_by_type: dict[str, int]
    first_occurred_at: UtcDatetime
    last_occurred_at: UtcDatetime
    last_position: int = Field(description="Stream sequence of the last event applied to this incident.")
    updated_at: UtcDatetime


def evolve(state: Incident | None, event: Event[Any], position: int) -> Incident:
    """The incident after `event`, at stream sequence `position` (None: the incident's first event)."""
    if state is None:
        state = Incident(
            incident_id=event.incident_id,
            title=None,
            status=None,
            description=None,
            merged_into=None,
            event_count=0,
            counts_by_type={},
            first_occurred_at=event.occurred_at,
            last_occurred_at=event.occurred_at,
            last_position=position,
            updated_at=event.recorded_at,
        )
    # Valid values of every field, times in UTC as UtcDatetime makes them: model_copy need not validate again
    # (validating a new model per event was most of the time the incidents read model took in a catch-up).
    changes: dict[str, Any] = {
        "event_count": state.event_count + 1,
        "counts_by_type": {**state.counts_by_type, event.type: state.counts_by_type.get(event.type, 0) + 1},
        "first_occurred_at": as_utc(min(state.first_occurred_at, event.occurred_at)),
        "last_occurred_at": as_utc(max(state.last_occurred_at, event.occurred_at)),
        "last_position": position,
        "updated_at": as_utc(event.recorded_at),
    }
    return state.model_copy(update=changes | _lifecycle_changes(state, event))


# The types whose events change more than the tally.
LIFECYCLE_TYPES = tuple(payload.event_type() for payload in (IncidentOpened, IncidentUpdated, IncidentMerged))


def _lifecycle_changes(state: Incident, event: Event[Any]) -> dict[str, Any]:
    match event.data:
        case IncidentOpened(title=title, status=status, description=description):
            return {"title": title, "status": status.value, "description": description}
        case IncidentUpdated(title=title, status=status, description=description):
            return {
                "title": state.title if title is None else title,
                "status": state.status if status is None else status.value,
                "description": state.description if description is None else description,
            }
        case IncidentMerged(into=into):
            return {"merged_into": into}
    return {}


def with_lifecycle(tally: Incident, events: Iterable[Event[Any]]) -> Incident:
    """The incident whose events tally to `tally` (its lifecycle fields not set yet), given its lifecycle events
    in stream order: what `fold` of all its events gives."""
    state = tally
    for event in events:
        state = state.model_copy(update=_lifecycle_changes(state, event))
    return state


def fold(events: Iterable[tuple[int, Event[Any]]], start: Mapping[str, Incident] | None = None) -> dict[str, Incident]:
    """Each incident's state after its events, given as (stream sequence, event) in stream order, from the states
    in `start` (by incident id; an incident not in it starts with its first event)."""
    states = dict(start or {})
    for position, event in events:
        states[event.incident_id] = evolve(states.get(event.incident_id), event, position)
    return states
