"""`crisis status` and the projector's /metrics: stream figures, and per projection position, lag, rate, state,
standbys and open dead letters."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client

from services.common.settings import Settings
from services.projector import status_metrics
from services.projector.app import create_app
from services.projector.read_models import PROJECTIONS
from services.projector.shadow import open_shadows
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.cli_runner import crisis
from tests.integration.test_faults import lowest_checkpoint
from tests.integration.test_projector import publish
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")


async def test_status_and_metrics_while_the_projector_runs(
    nc: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_metrics, "REFRESH_S", 0.1)
    url = settings.database_url or ""
    incident = incident_id()
    await nc.jetstream().publish(f"crisis.events.{incident}.StatementIssued", b"{poison", headers={"Nats-Msg-Id": "x"})
    last = (await publish(nc, [make_event(incident, minute=i) for i in range(20)]))[-1]
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client,
    ):
        await wait_until(lambda: lowest_checkpoint(url), lambda c: c == last, what="projected")

        async def metrics() -> str:
            return (await client.get("/metrics")).text

        # Every figure asserted below, for every projection: the status figures are refreshed in the background,
        # so one projection's lag reaching 0 says nothing about another's dead-letter count.
        expected = [f'crisis_stream{{figure="last_seq"}} {float(last)}'] + [
            line
            for name in PROJECTIONS
            for line in (
                f'crisis_projection_dead_letters{{projection="{name}"}} 1.0',
                f'crisis_projection_state{{projection="{name}",state="active"}} 1.0',
                f'crisis_projection_position{{projection="{name}"}} {float(last)}',
                f'crisis_projector_active{{projection="{name}"}} 1.0',
            )
        ]
        text = await wait_until(metrics, lambda t: all(line in t for line in expected), what="every status figure")
        result = await crisis(settings, "status")

    assert [line for line in expected if line not in text] == []
    assert result.exit_code == 0, result.output
    rows = {
        line.split()[0]: line.split()
        for line in result.output.splitlines()
        if line.split()[:1] in ([n] for n in PROJECTIONS)
    }
    # name, position, lag, rate/s, state, standbys, dead letters
    assert {name: (r[1], r[2], r[4], r[5], r[6]) for name, r in rows.items()} == {
        name: (str(last), "0", "active", "0", "1") for name in PROJECTIONS
    }
    assert f"sequences {last - 20}..{last}" in result.output


async def test_status_shows_a_projection_being_rebuilt(settings: Settings, nc: Client) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url or "", autocommit=True) as conn:
        await open_shadows(conn, "incidents", [PROJECTIONS["incidents"]], None)
    result = await crisis(settings, "status")
    states = {
        line.split()[0]: line.split()[4]
        for line in result.output.splitlines()
        if line.split()[:1] in ([n] for n in PROJECTIONS)
    }
    assert states == {name: "rebuilding" if name == "incidents" else "stopped" for name in PROJECTIONS}
