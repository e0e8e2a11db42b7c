"""`crisis purge` against the real servers: the data is gone from the stream and the read models, the rest is as
it was, the stream stays protected, and every refusal changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import APIError

from schemas.subjects import STREAM_NAME
from services.common.embedded_nats import EmbeddedNats
from services.common.eventstream import ensure_stream
from services.common.settings import Settings
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.cli_runner import crisis
from tests.integration.test_projector import at, checkpoints, publish, running_projector
from tests.readmodels import snapshot
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")


@asynccontextmanager
async def protected_stream(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Client, Settings]]:
    """A nats-server of the test's own whose stream is protected as `crisis up` makes it (the session's is not)."""
    server = EmbeddedNats(tmp_path / "protected-nats")
    server.start()
    try:
        target = settings.model_copy(update={"nats_url": server.url})
        client = await nats.connect(server.url)
        try:
            await ensure_stream(client, target.model_copy(update={"stream_protected": True}))
            yield client, target
        finally:
            await client.close()
    finally:
        server.stop()


async def projected_to(settings: Settings, last_seq: int) -> None:
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: at(c, last_seq))


async def stream_lines(settings: Settings) -> list[dict[str, Any]]:
    """The stream as `crisis export` writes it, without the sequences (which a purge renumbers)."""
    exported = await crisis(settings, "export")
    assert exported.exit_code == 0, exported.output
    return [{k: v for k, v in json.loads(line).items() if k != "seq"} for line in exported.stdout.splitlines()]


def copies_left(data_dir: Path) -> list[Path]:
    """The kept events' copy is removed once they are back in the stream: no extra copy of the data lingers."""
    return list(data_dir.glob("purge-*"))


async def test_purge_removes_an_incident_from_the_stream_and_every_read_model(
    settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url or ""
    kept, removed = incident_id(), incident_id()
    async with protected_stream(settings, tmp_path) as (nc, target):
        seqs = await publish(
            nc, [make_event(kept, "IncidentOpened", title="Kept")] + [make_event(kept, minute=i) for i in range(1, 8)]
        )
        await projected_to(target, seqs[-1])
        others = snapshot(url)
        kept_lines = await stream_lines(target)
        seqs = await publish(
            nc,
            [make_event(removed, "IncidentOpened", title="Removed")]
            + [make_event(removed, minute=i) for i in range(1, 5)],
        )
        await projected_to(target, seqs[-1])
        assert snapshot(url) != others

        result = await crisis(target, "purge", "--incident", removed, "--yes", "--data-dir", str(tmp_path))

        assert result.exit_code == 0, result.output
        assert "purged: 5 event(s) removed, 8 kept, new last sequence 8" in result.output
        assert await stream_lines(target) == kept_lines  # same events, order, ids and headers
        info = await nc.jetstream().stream_info(STREAM_NAME)
        assert (info.config.deny_purge, info.config.deny_delete) == (True, True)
        with pytest.raises(APIError):
            await nc.jetstream().purge_stream(STREAM_NAME)
        assert copies_left(tmp_path) == []
        await projected_to(target, 8)
        assert snapshot(url) == others


async def test_purge_of_single_events_keeps_the_others_in_order(nc: Client, settings: Settings, tmp_path: Path) -> None:
    incident = incident_id()
    events = [make_event(incident, "IncidentOpened", title="Some")] + [
        make_event(incident, minute=i) for i in range(1, 6)
    ]
    await publish(nc, events)
    before = await stream_lines(settings)
    gone = [str(events[2].event_id), str(events[4].event_id)]

    result = await crisis(
        settings, "purge", "--event", gone[0], "--event", gone[1], "--yes", "--data-dir", str(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert "purged: 2 event(s) removed, 4 kept, new last sequence 4" in result.output
    assert await stream_lines(settings) == [line for i, line in enumerate(before) if i not in (2, 4)]


async def test_purge_refuses_without_yes_an_unknown_incident_and_a_running_projector(
    nc: Client, settings: Settings, tmp_path: Path
) -> None:
    incident = incident_id()
    seqs = await publish(nc, [make_event(incident, "IncidentOpened", title="Stays"), make_event(incident, minute=1)])
    before = await stream_lines(settings)
    purge = ("purge", "--incident", incident, "--data-dir", str(tmp_path))

    unconfirmed = await crisis(settings, *purge)
    unknown = await crisis(settings, "purge", "--incident", incident_id(), "--yes", "--data-dir", str(tmp_path))
    unknown_event = await crisis(settings, "purge", "--event", "no-such-id", "--yes", "--data-dir", str(tmp_path))
    nothing = await crisis(settings, "purge", "--yes", "--data-dir", str(tmp_path))
    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: at(c, seqs[-1]))
        running = await crisis(settings, *purge, "--yes")

    assert unconfirmed.exit_code == 2, unconfirmed.output
    assert f"would remove 2 event(s) (incident {incident}) and keep 0: nothing done" in unconfirmed.output
    assert unknown.exit_code == 2 and "the stream holds no event of incident" in unknown.output, unknown.output
    assert unknown_event.exit_code == 2 and "no event with id no-such-id" in unknown_event.output
    assert nothing.exit_code == 2 and "--incident ID and/or --event EVENT_ID" in nothing.output, nothing.output
    assert running.exit_code == 2 and "a projector is running" in running.output, running.output
    assert await stream_lines(settings) == before
    assert copies_left(tmp_path) == []
