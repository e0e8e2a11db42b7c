"""`crisis bench`'s arithmetic and workload, without servers: ratios per round, percentiles, copied scenarios."""

from __future__ import annotations

import json
import time
from typing import Any, cast

from services.cli.bench.lean_http import Answer, LeanPool
from services.cli.bench.project import PROGRESS_STEPS, catch_up_rate
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


class ProjectorAhead:
    """A stand-in for the query service's `GET /v1/incidents?min_position=`: the read models stand at `standing`
    in turn (as batches commit), and a read is answered with the first of them at or past the position it waits for
    (or the last one)."""

    def __init__(self, standing: list[int]) -> None:
        self.standing = standing
        self.waits: list[tuple[int, int]] = []  # (the position waited for, the position answered)

    async def get(self, path: str, params: dict[str, Any]) -> Answer:
        while len(self.standing) > 1 and self.standing[0] < params["min_position"]:
            self.standing.pop(0)
        self.waits.append((params["min_position"], self.standing[0]))
        return Answer(f"GET {path}", 200, b"[]", [(b"x-position", str(self.standing[0]).encode())])


async def test_a_catch_up_waits_for_each_step_and_for_its_last_event_itself() -> None:
    """No read asks again for what it has been told: each waits for more (the end is the answer to the read waiting
    for the last event, not the next poll after it, which timed up to a poll's interval too much)."""
    query = ProjectorAhead([0, 1_000, 2_000, 2_499, 2_500, 3_000])
    shown: list[tuple[int, int]] = []

    rate = await catch_up_rate(
        cast(LeanPool, query), 501, 2_500, time.perf_counter(), lambda done, total: shown.append((done, total))
    )

    waited = [wanted for wanted, _ in query.waits]
    answered = [500] + [position for _, position in query.waits]
    assert all(wanted > before for wanted, before in zip(waited, answered, strict=False))
    assert waited[-1] == 2_500 and max(waited) == 2_500 and answered[-1] == 2_500
    assert len(waited) <= PROGRESS_STEPS + 1
    assert shown[-1] == (2_000, 2_000) and [done for done, _ in shown] == sorted(done for done, _ in shown)
    assert rate > 0
