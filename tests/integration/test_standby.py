"""Hot standby: two projector processes, one active per projection; SIGKILL the active one, the standby takes over."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nats.aio.client import Client

from services.common.settings import Settings
from services.projector.lease import LEASE_NAMESPACE, lease_key
from services.projector.read_models import PROJECTIONS
from tests.integration.test_faults import events_for, lowest_checkpoint, publish_all
from tests.integration.test_projector import fetch
from tests.projector_process import ProjectorProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")


async def lease_holders(database_url: str) -> dict[str, int]:
    """Projection -> the OS pid of the projector process holding its lease."""
    rows = await fetch(
        database_url,
        """SELECT l.objid, split_part(a.application_name, ':', 2)::int FROM pg_locks l
           JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objsubid = 2
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
        LEASE_NAMESPACE,
    )
    by_key = {int(key): pid for key, pid in rows}
    return {name: by_key[lease_key(name)] for name in PROJECTIONS if lease_key(name) in by_key}


@pytest.mark.slow
async def test_the_standby_takes_over_within_10s_when_the_active_one_is_killed(
    nc: Client, settings: Settings, tmp_path: Path
) -> None:
    """Fault test 5."""
    url = settings.database_url or ""
    with ProjectorProcess(settings, tmp_path / "a") as first, ProjectorProcess(settings, tmp_path / "b") as second:
        await run_standby_scenario(nc, url, first, second)


async def run_standby_scenario(nc: Client, url: str, first: ProjectorProcess, second: ProjectorProcess) -> None:
    first.start()
    holders = await wait_until(lambda: lease_holders(url), lambda h: len(h) == len(PROJECTIONS), within=60)
    second.start()
    assert first.process is not None and second.process is not None
    assert set(holders.values()) == {first.process.pid}  # the second waits on standby

    half = await publish_all(nc, events_for(3000))
    await wait_until(lambda: lowest_checkpoint(url), lambda c: c > 0, within=60, what="projecting")
    last = await publish_all(nc, events_for(3000))
    first.kill()
    killed = time.monotonic()
    await wait_until(
        lambda: lease_holders(url),
        lambda h: set(h.values()) == {second.process.pid} and len(h) == len(PROJECTIONS),  # type: ignore[union-attr]
        within=10,
        what="the standby to take every lease",
    )
    took_over_s = time.monotonic() - killed
    await wait_until(lambda: lowest_checkpoint(url), lambda c: c >= last, within=60, what="catching up")
    second.stop()

    [(logged,)] = await fetch(url, "SELECT count(*) FROM event_log")
    [(counted,)] = await fetch(url, "SELECT sum(event_count) FROM incidents")
    print(
        f"\nactive projector SIGKILLed after sequence {half}: standby took over in {took_over_s:.1f} s; "
        f"{logged} of 6000 logged, {counted} counted (lost {6000 - logged}, doubled {counted - 6000})"
    )
    assert (logged, counted) == (6000, 6000)
