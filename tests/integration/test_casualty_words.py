"""Figures given in words, through ingest and the query API: the source's words verbatim in the stored event, read
through the vocabulary for the views, and unknown (never open-ended) when outside it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.settings import Settings
from tests.conftest import incident_id
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.usefixtures("stream")


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with running_stack(settings, projector=True) as running:
        yield running


def report(incident: str, source: str, count: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "CasualtiesReported",
        "incident_id": incident,
        "occurred_at": "2021-03-19T00:00:00+06:00",
        "source": {"name": source, "kind": "media"},
        "data": {"figures": [{"category": "killed", "count": count}]},
    }


async def test_the_words_are_stored_verbatim_and_read_through_the_vocabulary(stack: Stack) -> None:
    incident = incident_id()
    hundreds, about = report(incident, "Wire", {"text": "Hundreds"}), report(incident, "Daily", {"text": "about 1,200"})
    await stack.post(hundreds, about)

    stored = await stack.get(f"/v1/events/{hundreds['event_id']}")
    assert stored["event"]["data"]["figures"][0]["count"]["text"] == "Hundreds"
    killed = (await stack.get(f"/v1/incidents/{incident}/casualties"))["categories"][0]
    counts = {s["source"]["name"]: s["latest"]["count"] for s in killed["sources"]}
    assert (counts["Wire"]["text"], counts["Wire"]["lower"], counts["Wire"]["upper"]) == ("Hundreds", 200, 999)
    assert (counts["Daily"]["lower"], counts["Daily"]["upper"], counts["Daily"]["approximate"]) == (1080, 1320, True)
    assert killed["range"] == {"lower": 200, "upper": 1320, "unknown_bounds": []}


async def test_words_outside_the_vocabulary_leave_the_range_known_and_say_so(stack: Stack) -> None:
    incident = incident_id()
    exact, unknown = report(incident, "Ministry", {"value": 12}), report(incident, "Blog", {"text": "a great many"})
    await stack.post(exact, unknown)

    killed = (await stack.get(f"/v1/incidents/{incident}/casualties"))["categories"][0]
    blog = next(s for s in killed["sources"] if s["source"]["name"] == "Blog")["latest"]["count"]
    assert (blog["text"], blog["bounds"], blog["lower"], blog["upper"]) == ("a great many", "unknown", None, None)
    assert killed["range"] == {"lower": 12, "upper": 12, "unknown_bounds": [unknown["event_id"]]}


async def test_each_group_has_its_own_figures_and_a_version_1_report_counts_everyone(stack: Stack) -> None:
    incident = incident_id()
    by_group = report(incident, "Rights group", {"value": 40})
    by_group["data"]["figures"] += [
        {"category": "killed", "group": "protesters", "count": {"text": "dozens"}},
        {"category": "killed", "group": "security_forces", "count": {"value": 3}},
    ]
    version_1 = report(incident, "Ministry", {"value": 45}) | {"schema_version": 1}  # labelled: brought up to v2
    await stack.post(by_group, version_1)

    killed = {c["group"]: c for c in (await stack.get(f"/v1/incidents/{incident}/casualties"))["categories"]}
    assert {group: (c["range"]["lower"], c["range"]["upper"]) for group, c in killed.items()} == {
        "protesters": (24, 99),
        "security_forces": (3, 3),
        "total": (40, 45),
    }
    stored = await stack.get(f"/v1/events/{version_1['event_id']}")
    assert stored["event"]["schema_version"] == 2
    assert stored["event"]["data"]["figures"][0]["group"] == "total"
