"""Read-your-writes on the real stack: a GET with the position ingest returned sees the write, at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from nats.aio.client import Client

from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from tests.conftest import incident_id
from tests.stack import project, running_stack, statement

pytestmark = pytest.mark.usefixtures("stream")


def endpoints(incident: str, event_id: str) -> list[str]:
    return [
        "/v1/incidents",
        f"/v1/incidents/{incident}",
        f"/v1/incidents/{incident}/timeline",
        f"/v1/events/{event_id}",
    ]


def wanting(how: str, position: int) -> dict[str, Any]:
    if how == "query":
        return {"params": {"min_position": position}}
    return {"headers": {"X-Min-Position": str(position)}}


@pytest.mark.parametrize("how", ["query", "header"])
async def test_a_get_with_the_position_of_a_post_waits_for_the_write_on_every_endpoint(
    settings: Settings, nc: Client, how: str
) -> None:
    incident = incident_id()
    async with running_stack(settings) as stack:
        for index in range(4):
            published = await stack.publish(statement(incident, quote=f"Report {index}."))
            url = endpoints(incident, published["event_id"])[index]
            lagging = asyncio.create_task(project(settings.database_url or "", nc, published["seq"], delay_s=0.2))
            started = time.monotonic()
            got = await stack.query.get(url, **wanting(how, published["seq"]))
            await lagging
            assert time.monotonic() - started >= 0.2
            assert got.status_code == 200, (url, got.text)
            assert int(got.headers["X-Position"]) >= published["seq"]
            assert "X-Stale" not in got.headers
            if "timeline" in url:
                assert got.json()["items"][-1]["data"]["quote"] == f"Report {index}."


async def test_past_the_bound_the_answer_says_it_is_stale(settings: Settings) -> None:
    settings = settings.model_copy(update={"min_position_wait_s": 0.3})
    incident = incident_id()
    async with running_stack(settings) as stack:
        published = await stack.publish(statement(incident))
        started = time.monotonic()
        got = await stack.query.get(f"/v1/incidents/{incident}", params={"min_position": published["seq"]})
        assert time.monotonic() - started >= 0.3
        assert got.status_code == 404  # not there yet, and the reader is told why it may be missing
        assert got.headers["X-Stale"] == "true"
        assert int(got.headers["X-Position"]) < published["seq"]
        listed = await stack.query.get("/v1/incidents", headers={"X-Min-Position": str(published["seq"])})
        assert (listed.status_code, listed.headers["X-Stale"]) == (200, "true")


@pytest.mark.parametrize(
    ("how", "loc"), [("query", ["query", "min_position"]), ("header", ["header", "X-Min-Position"])]
)
async def test_a_position_beyond_the_end_of_the_stream_is_400_at_once(
    settings: Settings, nc: Client, how: str, loc: list[str]
) -> None:
    async with running_stack(settings) as stack:
        await stack.publish(statement(incident_id()))
        last_seq = (await nc.jetstream().stream_info(STREAM_NAME)).state.last_seq
        started = time.monotonic()
        got = await stack.query.get("/v1/incidents", **wanting(how, last_seq + 1))
        assert time.monotonic() - started < settings.min_position_wait_s
        assert got.status_code == 400
        assert got.json()["details"][0]["loc"] == loc
        assert f"beyond the end of the stream (last sequence {last_seq})" in got.json()["error"]


@pytest.mark.parametrize("value", ["-1", "soon"])
async def test_a_malformed_min_position_is_422_naming_it(settings: Settings, value: str) -> None:
    async with running_stack(settings) as stack:
        got = await stack.query.get("/v1/incidents", params={"min_position": value})
        assert got.status_code == 422
        assert got.json()["details"][0]["loc"] == ["query", "min_position"]
