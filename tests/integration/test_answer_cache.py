"""The query service's answer cache on the real servers: an answer is served from memory only until the read
models change, whoever changes them (the projector, a replay's swap-in, a purge, a dead letter retried, a hand-made
fix), and never past a lost notification, a wanted position or a missing token.

Each test first reads until its URL is served from the cache (the hits counter moves), so a cache that missed the
change would go on serving the old answer and the test would fail.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from nats.aio.client import Client
from prometheus_client import REGISTRY
from pydantic import SecretStr

from services.common.logging import CORRELATION_HEADER
from services.common.settings import Settings
from services.projector.read_models import PROJECTIONS
from services.query.app import create_app
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.cli_runner import crisis
from tests.integration.test_dead_letters import poison_then_good
from tests.integration.test_projector import fetch, publish
from tests.integration.test_purge import projected_to, protected_stream
from tests.integration.test_read_your_writes import listening_backend
from tests.integration.test_replay import projected
from tests.stack import AUTH, TOKEN, Stack, project, running_stack, served, statement
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")

ANNOUNCED = {table for projection in PROJECTIONS.values() for table in projection.tables} | {"projection_checkpoints"}


def hits() -> float:
    return REGISTRY.get_sample_value("crisis_query_cache_hits_total") or 0.0


async def held(query: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """`url`'s answer once it is served from the cache."""

    async def read() -> tuple[httpx.Response, bool]:
        before = hits()
        response = await query.get(url, **kwargs)
        return response, hits() > before

    response, _ = await wait_until(read, lambda read: read[1], what=f"{url} served from the cache")
    assert response.status_code == 200, response.text
    return response


async def answered(query: httpx.AsyncClient, url: str, done: Any, **kwargs: Any) -> httpx.Response:
    """`url`'s answer once `done` holds of it (a notification arrives a moment after its commit)."""
    return await wait_until(lambda: query.get(url, **kwargs), done, within=5, what=f"a fresh answer of {url}")


def query_service(settings: Settings) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return served(create_app(settings), "query")


async def unannounced(database_url: str, statement: str, *params: Any) -> None:
    """A write that fires no trigger, so no notification: as one lost while the listener was down."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(statement, params)


def positions(response: httpx.Response) -> list[int]:
    return [entry["position"] for entry in response.json()["items"]]


async def test_a_new_event_is_read_once_its_checkpoint_commits(settings: Settings) -> None:
    incident = incident_id()
    async with running_stack(settings, projector=True) as stack:
        first = await stack.post(statement(incident, "First."))
        timeline = f"/v1/incidents/{incident}/timeline"
        assert positions(await held(stack.query, timeline)) == first

        second = await stack.post(statement(incident, "Second."))  # returns once /v1/incidents shows it

        assert positions(await stack.query.get(timeline)) == first + second
        third = await stack.publish(statement(incident, "Third."))
        waited = await stack.query.get(timeline, params={"min_position": third["seq"]})
        assert positions(waited) == [*first, *second, third["seq"]]


async def test_a_min_position_past_the_cached_answer_waits_for_it(settings: Settings, nc: Client) -> None:
    incident, url = incident_id(), settings.database_url or ""
    async with running_stack(settings) as stack:
        first = await stack.publish(statement(incident, "First."))
        await project(url, nc, first["seq"])
        timeline = f"/v1/incidents/{incident}/timeline"
        await held(stack.query, timeline)
        before = hits()
        assert positions(await stack.query.get(timeline, params={"min_position": first["seq"]})) == [first["seq"]]
        assert hits() == before + 1  # a position the cached answer has reached: served from the cache

        second = await stack.publish(statement(incident, "Second."))
        lagging = asyncio.create_task(project(url, nc, second["seq"], delay_s=0.2))
        waited = await stack.query.get(timeline, headers={"X-Min-Position": str(second["seq"])})
        await lagging

        assert waited.status_code == 200 and "X-Stale" not in waited.headers
        assert positions(waited) == [first["seq"], second["seq"]]


async def test_etag_and_if_none_match(settings: Settings) -> None:
    incident = incident_id()
    async with running_stack(settings, projector=True) as stack:
        await stack.post(statement(incident))
        url = f"/v1/incidents/{incident}"
        cached = await held(stack.query, url)
        etag = cached.headers["ETag"]
        assert etag.startswith('"') and etag == (await stack.query.get(url)).headers["ETag"]

        for condition in (etag, f'W/{etag}, "other"', "*"):
            unchanged = await stack.query.get(url, headers={"If-None-Match": condition})
            assert unchanged.status_code == 304 and unchanged.content == b""
            assert unchanged.headers["ETag"] == etag
            assert unchanged.headers["X-Position"] == cached.headers["X-Position"]
            assert CORRELATION_HEADER in unchanged.headers

        await stack.post(statement(incident, "News."))
        changed = await stack.query.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
        assert changed.json()["event_count"] == 2


async def renamed_unannounced(stack: Stack, database_url: str) -> str:
    """The path of an incident whose answer the cache holds, renamed afterwards without a notification."""
    incident = incident_id()
    await stack.post(statement(incident))
    path = f"/v1/incidents/{incident}"
    await held(stack.query, path)
    await unannounced(database_url, "UPDATE incidents SET title = 'Renamed' WHERE incident_id = %s", incident)
    return path


async def test_no_cache_asks_the_app_and_refreshes_the_answer(settings: Settings) -> None:
    async with running_stack(settings, projector=True) as stack:
        path = await renamed_unannounced(stack, settings.database_url or "")
        assert (await stack.query.get(path)).json()["title"] != "Renamed"  # nothing said the read models changed

        asked = await stack.query.get(path, headers={"Cache-Control": "no-cache"})

        assert asked.json()["title"] == "Renamed"
        assert (await held(stack.query, path)).json()["title"] == "Renamed"


async def test_a_lost_notification_is_made_good_when_listening_resumes(settings: Settings) -> None:
    url = settings.database_url or ""
    async with running_stack(settings, projector=True) as stack:
        path = await renamed_unannounced(stack, url)
        killed = await listening_backend(url)
        assert await fetch(url, "SELECT pg_terminate_backend(%s)", killed) == [(True,)]
        await wait_until(lambda: listening_backend(url), lambda pid: pid not in (None, killed), what="relisten")

        assert (await held(stack.query, path)).json()["title"] == "Renamed"


async def test_without_a_token_a_cached_answer_is_refused(settings: Settings) -> None:
    closed = settings.model_copy(update={"query_public": False, "api_tokens": SecretStr(f"tester:{TOKEN}")})
    async with running_stack(closed, projector=True) as stack:
        await held(stack.query, "/v1/incidents", headers=AUTH)

        assert (await stack.query.get("/v1/incidents")).status_code == 401
        wrong = await stack.query.get("/v1/incidents", headers={"Authorization": "Bearer not-a-configured-token"})
        assert wrong.status_code == 401
        assert (await stack.query.get("/v1/incidents", headers=AUTH)).status_code == 200


async def announced_tables(database_url: str) -> set[str]:
    rows = await fetch(
        database_url,
        """SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE t.tgname = 'announce_read_models_changed' AND c.relnamespace = 'public'::regnamespace""",
    )
    return {row[0] for row in rows}


async def test_every_read_model_announces_its_writes(database_url: str) -> None:
    assert await announced_tables(database_url) == ANNOUNCED


async def test_a_replay_swap_in_drops_the_answers(nc: Client, settings: Settings) -> None:
    url = settings.database_url or ""
    incident, _ = await projected(nc, settings, 20)
    await fetch(url, "UPDATE incidents SET event_count = 0 RETURNING 1")  # as a handler bug would
    async with query_service(settings) as query:
        path = f"/v1/incidents/{incident}"
        assert (await held(query, path)).json()["event_count"] == 0

        replayed = await crisis(settings, "replay", "incidents")
        assert replayed.exit_code == 0, replayed.output

        await answered(query, path, lambda r: r.json()["event_count"] == 20)
        assert await announced_tables(url) == ANNOUNCED  # the swapped-in table announces its writes too


async def test_a_purge_drops_the_answers(settings: Settings, tmp_path: Path) -> None:
    removed = incident_id()
    async with protected_stream(settings, tmp_path) as (nc, target):
        seqs = await publish(nc, [make_event(removed, "IncidentOpened", title="Removed")])
        await projected_to(target, seqs[-1])
        async with query_service(target) as query:
            path = f"/v1/incidents/{removed}"
            await held(query, path)

            purged = await crisis(target, "purge", "--incident", removed, "--yes")
            assert purged.exit_code == 0, purged.output

            await answered(query, path, lambda r: r.status_code == 404)


async def test_a_retried_dead_letter_drops_the_answers(nc: Client, settings: Settings) -> None:
    """The incidents read model's letter: its retry announces nothing but its writes (no timeline entry)."""
    incident, url = incident_id(), settings.database_url or ""
    await poison_then_good(nc, settings, incident)
    [letter] = [r[0] for r in await fetch(url, "SELECT id FROM dead_letters WHERE projection = 'incidents'")]
    async with query_service(settings) as query:
        path = f"/v1/incidents/{incident}"
        assert (await held(query, path)).json()["event_count"] == 1
        await fetch(
            url,
            "UPDATE dead_letters SET payload = convert_to(jsonb_set(convert_from(payload, 'UTF8')::jsonb,"
            " '{data,reason}', '\"fixed\"')::text, 'UTF8') WHERE id = %s RETURNING id",
            letter,
        )

        retried = await crisis(settings, "dead-letters", "retry", str(letter))
        assert retried.exit_code == 0, retried.output

        await answered(query, path, lambda r: r.json()["event_count"] == 2)
