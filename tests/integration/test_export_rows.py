"""An export of several chunks, on a real PostgreSQL (issue 13, "a 100k-row CSV export streams"): the exports read
every row's verification for the whole selection at once (a join, not a call per row) and fetch the next chunk
while they encode one. Each row still says what the per-event endpoint says as of the same time, and the rows keep
the order the events happened in, across chunk boundaries."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from schemas.envelope import Event
from services.common.database import connect
from services.common.settings import Settings
from services.projector.applier import apply_batch
from services.projector.messages import StreamMessage
from services.projector.read_models import PROJECTIONS
from services.query.app import create_app
from services.query.heavy_reads import EXPORT_CHUNK_ROWS
from tests.conftest import incident_id
from tests.factories import make_event, publish_args
from tests.stack import serve

EVENTS = 5 * EXPORT_CHUNK_ROWS + EXPORT_CHUNK_ROWS // 2  # six chunks, the last one short
RECORDED = datetime(2021, 1, 1, tzinfo=UTC)  # the events
CONFIRMED = datetime(2021, 2, 1, tzinfo=UTC)  # every 97th event confirmed
LATER = datetime(2021, 3, 1, tzinfo=UTC)  # of those, every other retracted, the rest disputed
AS_OFS = (None, "2021-01-15T00:00:00Z", "2021-02-15T00:00:00Z")


def recorded(event: Event[Any], at: datetime) -> Event[Any]:
    return type(event).model_validate({**event.model_dump(), "recorded_at": at})


async def project(database_url: str, events: list[Event[Any]]) -> None:
    """The events at stream sequences 1.. into the event log and the facts (verification changes) read models."""

    async def contiguous(seq: int) -> int:
        return seq

    messages = []
    for seq, event in enumerate(events, start=1):
        args = publish_args(event)
        messages.append(StreamMessage(seq, args["subject"], args["payload"], args["headers"]))
    async with await connect(database_url) as conn:  # dict rows, as the projector reads them
        for start in range(0, len(messages), 1000):
            batch = messages[start : start + 1000]
            await apply_batch(conn, [PROJECTIONS["event_log"], PROJECTIONS["facts"]], batch, contiguous)


@pytest.mark.usefixtures("stream")
async def test_every_row_of_a_long_export_says_what_the_event_endpoint_says(
    settings: Settings, database_url: str
) -> None:
    incident = incident_id()
    # Minutes in reverse stream order: the export's order (occurred_at) is not the table's.
    reports = [recorded(make_event(incident, minute=EVENTS - i), RECORDED) for i in range(EVENTS)]
    changed = reports[::97]
    changes = [
        recorded(make_event(incident, "VerificationChanged", event=report.event_id, status="confirmed"), CONFIRMED)
        for report in changed
    ]
    changes += [
        recorded(make_event(incident, "ReportRetracted", retracts=report.event_id, reason="withdrawn"), LATER)
        if i % 2
        else recorded(make_event(incident, "VerificationChanged", event=report.event_id, status="disputed"), LATER)
        for i, report in enumerate(changed)
    ]
    await project(database_url, reports + changes)

    def in_order(as_of: str | None) -> list[str]:
        """What happened by then, in the order it happened: the changes (minute 0) first, then the reports."""
        by = datetime.fromisoformat(as_of) if as_of else LATER
        return [str(e.event_id) for e in changes if e.recorded_at <= by] + [str(r.event_id) for r in reversed(reports)]

    async with serve(create_app(settings)) as server, httpx.AsyncClient(base_url=server.url, timeout=120) as client:

        async def verification(event_id: str, as_of: str | None) -> str:
            params = {"as_of": as_of} if as_of else {}
            response = await client.get(f"/v1/events/{event_id}", params=params)
            assert response.status_code == 200, response.text
            return str(response.json()["verification"])

        for as_of in AS_OFS:
            params = {"incident": incident} | ({"as_of": as_of} if as_of else {})
            listed = (await client.get("/v1/export.csv", params=params)).text
            rows = list(csv.DictReader(io.StringIO(listed)))[1:]  # under the headers, the HXL hashtags
            lines = (await client.get("/v1/export.ndjson", params=params)).text.splitlines()
            assert (
                [row["event_id"] for row in rows] == [json.loads(line)["event_id"] for line in lines] == in_order(as_of)
            )

            exported = {row["event_id"]: row["verification"] for row in rows}
            assert {json.loads(line)["event_id"]: json.loads(line)["verification"] for line in lines} == exported
            # Every changed report, and every 50th of the others, as the per-event endpoint reads it.
            looked_up = {str(r.event_id) for r in changed} | {str(r.event_id) for r in reports[1::50]}
            expected = {event_id: await verification(event_id, as_of) for event_id in looked_up}
            assert {event_id: exported[event_id] for event_id in looked_up} == expected
            # ... and none but the changed reports differ from an unchanged one's status.
            unchanged = expected[str(reports[1].event_id)]
            assert {e for e, status in exported.items() if status != unchanged} <= {str(r.event_id) for r in changed}
            assert (
                sorted(set(expected.values()))
                == {
                    None: ["disputed", "reported", "retracted"],
                    "2021-01-15T00:00:00Z": ["reported"],
                    "2021-02-15T00:00:00Z": ["confirmed", "reported"],
                }[as_of]
            )
