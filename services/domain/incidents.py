"""An incident's state, folded from its events in stream order: the one rule behind the `incidents` projection
(a batch at a time, onto the stored row) and behind an `as_of` read (every event recorded by then).

Every event counts, by type, widens the time span and moves the position: its tally. The lifecycle events set the
rest: IncidentOpened the title, status and description; IncidentUpdated only the fields it gives; IncidentMerged
the incident it duplicates. Both paths tally first and fold only the lifecycle events onto that tally, in order
(`with_lifecycle`): the projector in Python (`fold`), an `as_of` read in SQL (the same sums, minimum and maximum
over the events' columns), so that its cost does not grow with the incident's events in this process.
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
    in `start` (by incident id; an incident not in it starts with its first event): its tally over them, then its
    lifecycle events folded on in order, as an `as_of` read does. One new state per incident, not one per event (a
    copy per event took 5.7 ms of the Python for 1,000 demo events, this 1.9)."""
    runs: dict[str, list[tuple[int, Event[Any]]]] = {}
    for position, event in events:
        runs.setdefault(event.incident_id, []).append((position, event))
    states = dict(start or {})
    for incident, run in runs.items():
        states[incident] = _after(states.get(incident), run)
    return states


def _after(state: Incident | None, run: list[tuple[int, Event[Any]]]) -> Incident:
    """The incident after its events in `run` (stream order; None: the first of them is its first event)."""
    first = run[0][1]
    if state is None:
        state = Incident(
            incident_id=first.incident_id,
            title=None,
            status=None,
            description=None,
            merged_into=None,
            event_count=0,
            counts_by_type={},
            first_occurred_at=first.occurred_at,
            last_occurred_at=first.occurred_at,
            last_position=run[0][0],
            updated_at=first.recorded_at,
        )
    counts = dict(state.counts_by_type)
    for _, event in run:
        counts[event.type] = counts.get(event.type, 0) + 1
    occurred = [event.occurred_at for _, event in run]
    last_position, last = run[-1]
    # Valid values of every field, times in UTC as UtcDatetime makes them: model_copy need not validate again.
    tally = state.model_copy(
        update={
            "event_count": state.event_count + len(run),
            "counts_by_type": counts,
            "first_occurred_at": as_utc(min(state.first_occurred_at, *occurred)),
            "last_occurred_at": as_utc(max(state.last_occurred_at, *occurred)),
            "last_position": last_position,
            "updated_at": as_utc(last.recorded_at),
        }
    )
    return with_lifecycle(tally, (event for _, event in run if event.type in LIFECYCLE_TYPES))
