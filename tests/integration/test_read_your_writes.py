"""Read-your-writes on the real stack: a GET with the position ingest returned sees the write, at once.

A waiting read wakes on the projector's announcements (NOTIFY at COMMIT): the tests of that path set the safety
poll far past the wait's bound, so a read that was not woken by an announcement would answer stale.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute
from nats.aio.client import Client

from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from services.query import analyst_routes, domain_routes, routes
from services.query.api import api_router
from services.query.listener import APPLICATION_NAME as LISTENER
from tests.conftest import incident_id
from tests.integration.cli_runner import crisis
from tests.integration.test_projector import fetch
from tests.stack import project, running_stack, statement
from tests.waiting import wait_until

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


def read_routes(incident: str, event_id: str, actor_id: str) -> list[str]:
    """Every GET of the query API, from its routers, with path parameters filled (not the live feed: it never
    ends)."""
    values = {"incident_id": incident, "event_id": event_id, "actor_id": actor_id}
    gets = [route for module in (routes, domain_routes, analyst_routes) for route in module.router.routes
            if isinstance(route, APIRoute) and "GET" in (route.methods or ())]  # fmt: skip
    return [api_router.prefix + route.path.format(**values) for route in gets if not route.path.endswith("/live")]


async def test_every_read_answers_the_position_it_reflects(settings: Settings) -> None:
    """X-Position on every answer, over HTTP: a route that returns its own Response drops the headers its
    dependencies set, so having the position dependency is not enough."""
    incident = incident_id()
    async with running_stack(settings, projector=True) as stack:
        [seq] = await stack.post(statement(incident))
        urls = read_routes(incident, (await stack.get(f"/v1/incidents/{incident}/timeline"))["items"][0]["event_id"],
                           "a-resident")  # fmt: skip
        answers = {url: await stack.query.get(url) for url in urls}

    assert len(answers) >= 18 and {url: r.status_code for url, r in answers.items()} == dict.fromkeys(urls, 200)
    assert {url for url, r in answers.items() if int(r.headers.get("X-Position", "0")) < seq} == set()


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


async def test_a_position_past_the_end_seen_before_is_asked_of_nats_again(settings: Settings, nc: Client) -> None:
    """The query service keeps the highest end of the stream it has seen; a position past it is not refused on
    that, but asked of NATS again, and refused only when it is beyond the stream's real end."""
    url = settings.database_url or ""
    async with running_stack(settings) as stack:
        first = (await stack.publish(statement(incident_id())))["seq"]
        await project(url, nc, first)
        refused = await stack.query.get("/v1/incidents", params={"min_position": first + 1})
        assert refused.status_code == 400
        assert f"(last sequence {first})" in refused.json()["error"]
        second = (await stack.publish(statement(incident_id())))["seq"]
        lagging = asyncio.create_task(project(url, nc, second, delay_s=0.2))
        got = await stack.query.get("/v1/incidents", params={"min_position": second})
        await lagging
        assert got.status_code == 200, got.text
        assert int(got.headers["X-Position"]) >= second
        beyond = await stack.query.get("/v1/incidents", params={"min_position": second + 1})
        assert beyond.status_code == 400
        assert f"(last sequence {second})" in beyond.json()["error"]


@pytest.mark.parametrize("value", ["-1", "soon"])
async def test_a_malformed_min_position_is_422_naming_it(settings: Settings, value: str) -> None:
    async with running_stack(settings) as stack:
        got = await stack.query.get("/v1/incidents", params={"min_position": value})
        assert got.status_code == 422
        assert got.json()["details"][0]["loc"] == ["query", "min_position"]


def woken_only(settings: Settings) -> Settings:
    """No safety poll within the bound: only an announcement of the projector can end a wait before the bound."""
    return settings.model_copy(update={"min_position_poll_s": 60, "min_position_wait_s": 10})


async def listening_backend(database_url: str) -> int | None:
    """The query process's LISTEN connection, once it listens to the projector's progress (its process id)."""
    rows = await fetch(
        database_url,
        """SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s
           AND state = 'idle' AND query LIKE 'LISTEN%%crisis_progress%%'""",
        LISTENER,
    )
    return rows[0][0] if rows else None


async def reads_own_write(stack: Any, settings: Settings, nc: Client) -> None:
    """Post, have it projected a little later, and read it back with its position: answered fresh, not stale."""
    incident, url = incident_id(), settings.database_url or ""
    # Projected at once first: every read model then has its checkpoint, and the position is their lowest.
    await project(url, nc, (await stack.publish(statement(incident_id())))["seq"])
    published = await stack.publish(statement(incident))
    lagging = asyncio.create_task(project(url, nc, published["seq"], delay_s=0.2))
    started = time.monotonic()
    got = await stack.query.get(f"/v1/incidents/{incident}", params={"min_position": published["seq"]})
    assert time.monotonic() - started < settings.min_position_wait_s  # woken, not at the bound's last look
    await lagging
    assert got.status_code == 200, got.text
    assert "X-Stale" not in got.headers
    assert int(got.headers["X-Position"]) >= published["seq"]


async def test_a_waiting_read_answers_when_the_projector_commits(settings: Settings, nc: Client) -> None:
    settings = woken_only(settings)
    async with running_stack(settings) as stack:
        await wait_until(lambda: listening_backend(settings.database_url or ""), bool, what="the listener")
        await reads_own_write(stack, settings, nc)


async def test_reads_answer_while_the_listener_is_killed_and_it_comes_back(settings: Settings, nc: Client) -> None:
    settings, url = woken_only(settings), settings.database_url or ""
    async with running_stack(settings) as stack:
        killed = await wait_until(lambda: listening_backend(url), bool, what="the listener")
        assert await fetch(url, "SELECT pg_terminate_backend(%s)", killed) == [(True,)]
        # Not listening (or back already): a waiting read polls meanwhile, and every read answers.
        await reads_own_write(stack, settings, nc)
        assert (await stack.query.get("/v1/incidents")).status_code == 200
        back = await wait_until(lambda: listening_backend(url), lambda pid: pid not in (None, killed), what="relisten")
        assert back != killed
        await reads_own_write(stack, settings, nc)  # woken by an announcement again: no poll would be in time


async def test_a_waiting_read_answers_when_a_replay_swaps_its_tables_in(settings: Settings, nc: Client) -> None:
    """Only the swaps of `crisis replay all` move the checkpoints past the first event, and the last one announces."""
    settings, url = woken_only(settings), settings.database_url or ""
    incident = incident_id()
    async with running_stack(settings) as stack:
        await wait_until(lambda: listening_backend(url), bool, what="the listener")
        await project(url, nc, (await stack.publish(statement(incident_id())))["seq"])  # every checkpoint exists
        published = await stack.publish(statement(incident))
        started = time.monotonic()
        reading = asyncio.create_task(
            stack.query.get(f"/v1/incidents/{incident}", params={"min_position": published["seq"]})
        )
        replayed = await crisis(settings, "replay", "all")
        got = await reading
        assert time.monotonic() - started < settings.min_position_wait_s  # woken, not at the bound's last look
        assert replayed.exit_code == 0, replayed.output
        assert got.status_code == 200, got.text
        assert "X-Stale" not in got.headers
