"""One rule for an incident's state: the `incidents` projection (a batch at a time, onto the stored row), the
domain's `fold` of all its events at once and an `as_of` read (all events recorded by then, tallied in SQL) agree."""

from __future__ import annotations

import psycopg
import pytest

from schemas.catalogue import parse_event
from services.common.settings import Settings
from services.domain.incidents import fold
from tests.conftest import incident_id
from tests.integration.test_domain_api import scenario
from tests.stack import running_stack

pytestmark = pytest.mark.usefixtures("stream")

FAR_FUTURE = "2099-01-01T00:00:00+00:00"


@pytest.mark.parametrize("name", ["kg-2020-election", "xa-2021-valley-flood"])
async def test_the_projected_incident_is_the_fold_of_its_events(settings: Settings, name: str) -> None:
    incident = incident_id()
    async with running_stack(settings, projector=True) as stack:
        await stack.post(*scenario(name, incident))
        projected = await stack.get(f"/v1/incidents/{incident}")
        as_of_read = await stack.get(f"/v1/incidents/{incident}", as_of=FAR_FUTURE)

    async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
        cur = await conn.execute(
            "SELECT stream_seq, envelope FROM event_log WHERE incident_id = %s ORDER BY stream_seq", (incident,)
        )
        folded = fold((seq, parse_event(envelope)) for seq, envelope in await cur.fetchall())

    assert projected == folded[incident].model_dump(mode="json") == as_of_read
    assert projected["title"] is not None and projected["event_count"] == len(scenario(name, incident))
