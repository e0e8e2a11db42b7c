"""examples/subscriber.py, run as a separate program against a real stream: it sees exactly the events its
filters select, validates each against the committed JSON Schemas, acknowledges after its work, and resumes."""

from __future__ import annotations

import ast
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from schemas.contract import GENERATED_DIR
from schemas.subjects import STREAM_NAME, event_subject
from services.common.settings import Settings
from services.demo.loader import scenario_events
from tests.conftest import incident_id
from tests.factories import make_event, publish_args
from tests.stack import AUTH, running_stack

pytestmark = pytest.mark.usefixtures("stream")

EXAMPLE = Path(__file__).parents[2] / "examples" / "subscriber.py"


async def subscriber(nats_url: str, tmp_path: Path, *args: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the example to completion (it stops after --max-events); its handled and its refused events."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), "--nats-url", nats_url, "--schemas", str(GENERATED_DIR), *args,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    return [json.loads(line) for line in stdout.decode().splitlines()], lines


def test_the_example_uses_no_project_code() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    modules += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert {m.split(".")[0] for m in modules} <= {
        *("__future__", "argparse", "asyncio", "json", "sys", "datetime", "pathlib", "typing"),
        *("nats", "jsonschema"),
    }


async def test_the_example_validates_every_event_of_the_demo_scenario(
    settings: Settings, nats_url: str, tmp_path: Path
) -> None:
    events = scenario_events("kg-2020-election")
    async with running_stack(settings) as stack:
        response = await stack.ingest.post("/v1/events/batch", json={"events": events}, headers=AUTH)
        assert response.status_code == 202, response.text
    handled, refused = await subscriber(
        nats_url,
        tmp_path,
        "--durable",
        "demo-reader",
        "--incident",
        "kg-2020-election",
        "--max-events",
        str(len(events)),
    )
    assert refused == []
    assert [h["event_id"] for h in handled] == [e["event_id"] for e in events]


async def test_filters_start_time_ack_after_work_and_resume(nc: Client, nats_url: str, tmp_path: Path) -> None:
    js = nc.jetstream()
    mine, other = incident_id(), incident_id()
    await js.publish(**publish_args(make_event(mine, "ResultsAnnulled")))  # before the start time
    since = datetime.now(UTC)
    wanted = make_event(mine, "ResultsAnnulled")
    await js.publish(**publish_args(wanted))
    await js.publish(**publish_args(make_event(other, "ResultsAnnulled")))  # another incident
    await js.publish(**publish_args(make_event(mine, "StatementIssued")))  # another type
    broken = {**make_event(mine, "ResultsAnnulled").model_dump(mode="json"), "data": {"reason": "no election"}}
    broken_seq = (await js.publish(event_subject(mine, "ResultsAnnulled"), json.dumps(broken).encode())).seq
    casualties = make_event(mine, "CasualtiesReported")
    await js.publish(**publish_args(casualties))

    filters = ["--incident", mine, "--type", "ResultsAnnulled", "--type", "CasualtiesReported"]
    args = ["--durable", "filtered", *filters, "--since", since.isoformat()]
    handled, refused = await subscriber(nats_url, tmp_path, *args, "--max-events", "2")

    assert [h["event_id"] for h in handled] == [str(wanted.event_id), str(casualties.event_id)]
    assert [r["seq"] for r in refused] == [broken_seq]
    assert "'election_id' is a required property" in refused[0]["invalid"]
    info = await js.consumer_info(STREAM_NAME, "filtered")
    assert (info.num_ack_pending, info.num_pending) == (0, 0)  # everything handled was acknowledged

    later = make_event(mine, "ResultsAnnulled")
    await js.publish(**publish_args(later))
    resumed, _ = await subscriber(nats_url, tmp_path, *args, "--max-events", "1")
    assert [h["event_id"] for h in resumed] == [str(later.event_id)]
