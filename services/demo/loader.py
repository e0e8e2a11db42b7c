"""Post a scenario through the ingest HTTP API, as a reporter would, then wait until it is projected.

Event ids are derived from the scenario and the event's index, so posting twice publishes nothing twice; a
scenario whose first event is already in the read models is not posted again.
"""

from __future__ import annotations

import json
import time
import uuid
from importlib import resources
from typing import Any

import httpx

SCENARIO_NAMESPACE = uuid.UUID("5f1e3c52-63a7-4f0e-9a49-2b8b8a3f4c11")
PROJECTION_TIMEOUT_S = 60.0


class ScenarioError(RuntimeError):
    pass


def read_scenario(name: str) -> dict[str, Any]:
    path = resources.files("services.demo") / "scenarios" / f"{name}.json"
    if not path.is_file():
        raise ScenarioError(f"no scenario named {name!r}")
    scenario: dict[str, Any] = json.loads(path.read_text())
    return scenario


def scenario_events(name: str) -> list[dict[str, Any]]:
    return [
        {"event_id": str(uuid.uuid5(SCENARIO_NAMESPACE, f"{name}:{index}")), **event}
        for index, event in enumerate(read_scenario(name)["events"])
    ]


def load_scenario(name: str, ingest_url: str, query_url: str, token: str) -> int:
    """Post the scenario unless it is there already; returns the number of events posted."""
    events = scenario_events(name)
    with httpx.Client(timeout=30.0) as client:
        if client.get(f"{query_url}/v1/events/{events[0]['event_id']}").status_code == 200:
            return 0
        response = client.post(
            f"{ingest_url}/v1/events/batch",
            json={"events": events},
            headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": f"demo-{name}"},
        )
        if response.status_code != 202:
            raise ScenarioError(f"ingest refused the {name} scenario: {response.status_code} {response.text}")
        last_seq = max(result["seq"] for result in response.json()["results"])
        _wait_projected(client, query_url, last_seq)
    return len(events)


def _wait_projected(client: httpx.Client, query_url: str, seq: int) -> None:
    """Every read model has reached `seq`: the query service says so in its X-Position header."""
    deadline = time.monotonic() + PROJECTION_TIMEOUT_S
    while time.monotonic() < deadline:
        response = client.get(f"{query_url}/v1/incidents", params={"limit": 1})
        if int(response.headers.get("X-Position", "0")) >= seq:
            return
        time.sleep(0.1)
    raise ScenarioError(f"the read models did not reach position {seq} within {PROJECTION_TIMEOUT_S:.0f}s")
