"""`crisis bench`'s arithmetic and workload, without servers: ratios per round, percentiles, copied scenarios."""

from __future__ import annotations

import json

from services.cli.bench.report import Figure, percentile
from services.cli.bench.workload import Mix, submissions


def test_a_ratio_is_the_median_of_the_rounds_ratios_not_a_ratio_of_medians() -> None:
    figure = Figure("catch-up", "events/s", ">= 0.3", "fetch(500)+ack")
    for project, raw in ((100, 1000), (300, 1000), (90, 100)):  # the third round: the machine was slow
        figure.add(project, raw)

    written = figure.as_json()

    assert written["ratio"] == 0.3 and written["project"] == 100 and written["raw_limit"] == 1000
    unmeasured = Figure("projector peak RSS", "MB", "< 300").as_json()
    assert unmeasured["ratio"] is None and unmeasured["project"] is None


def test_percentiles_stay_within_the_samples() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) == 50.5 and 99 <= percentile(samples, 99) <= 100
    assert percentile([7.0], 99) == 7.0 and percentile([1.0, 2.0], 99) <= 2.0


def test_copies_have_fresh_ids_and_references_follow_their_target() -> None:
    events = submissions(Mix.flood, 32, incidents=2)  # two copies of the 16-event flood scenario
    ids = [event["event_id"] for event in events]
    assert len(set(ids)) == 32
    assert {event["incident_id"] for event in events} == {
        "bench-0-xa-2021-valley-flood",
        "bench-1-xa-2021-valley-flood",
    }
    correction = next(event for event in events[16:] if event["type"] == "ReportCorrected")
    assert correction["data"]["corrects"] in ids[16:]  # its own copy's report


def test_events_posted_concurrently_name_no_other_event() -> None:
    events = submissions(Mix.demo, 500, incidents=4, concurrent=True)
    ids = {event["event_id"] for event in events}
    assert len(events) == 500
    assert not any(other in json.dumps(event["data"]) for event in events for other in ids - {event["event_id"]})
