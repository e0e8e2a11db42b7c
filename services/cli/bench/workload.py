"""The events a bench posts: copies of the demo scenarios, so the type mix is the demo's.

Each copy gets fresh event ids (references between events, such as a correction naming the report it corrects,
follow their target) and one of a fixed number of incidents, so timelines grow as the stream does.
"""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Any

from services.demo.loader import scenario_events


class Mix(StrEnum):
    """Which scenarios are copied: both demo scenarios, or one of them."""

    demo = "demo"
    election = "election"
    flood = "flood"


SCENARIOS = {
    Mix.demo: ("kg-2020-election", "xa-2021-valley-flood"),
    Mix.election: ("kg-2020-election",),
    Mix.flood: ("xa-2021-valley-flood",),
}


def incident_name(scenario: str, index: int) -> str:
    return f"bench-{index}-{scenario}"


def submissions(mix: Mix, count: int, incidents: int, concurrent: bool = False) -> list[dict[str, Any]]:
    """`count` events ready for `POST /v1/events`, spread over `incidents` incidents. Events posted
    `concurrent`ly may land in any order, so those that name another event (a correction, a link) are left out:
    landing before their target, they would be dead letters."""
    scenarios = SCENARIOS[mix]
    templates = {name: json.dumps(scenario_events(name)) for name in scenarios}
    per_scenario = max(1, incidents // len(scenarios))
    events: list[dict[str, Any]] = []
    copy = 0
    while len(events) < count:
        for name, text in templates.items():
            copied = _copy(name, text, incident_name(name, copy % per_scenario))
            events.extend(e for e in copied if not (concurrent and _names_another(e, copied)))
        copy += 1
    return events[:count]


def _copy(scenario: str, text: str, incident: str) -> list[dict[str, Any]]:
    template: list[dict[str, Any]] = json.loads(text)
    for event in template:
        text = text.replace(event["event_id"], str(uuid.uuid4()))
    copied: list[dict[str, Any]] = json.loads(text.replace(json.dumps(scenario), json.dumps(incident)))
    return copied


def _names_another(event: dict[str, Any], copy: list[dict[str, Any]]) -> bool:
    data = json.dumps(event["data"])
    return any(other["event_id"] in data for other in copy if other is not event)
