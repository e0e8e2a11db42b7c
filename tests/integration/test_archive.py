"""`crisis export` / `crisis import` against the real stream: round trip, idempotent re-import, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from schemas.subjects import STREAM_NAME
from services.common.embedded_nats import EmbeddedNats
from services.common.eventstream import EventStream
from services.common.settings import Settings
from services.ingest.acks import Acks
from services.ingest.publisher import publish_events
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.cli_runner import crisis
from tests.integration.test_projector import publish

pytestmark = pytest.mark.usefixtures("stream")


async def test_export_then_import_restores_the_events_once(nc: Client, settings: Settings, tmp_path: Path) -> None:
    wanted, other = incident_id(), incident_id()
    [other_seq, first_seq] = await publish(nc, [make_event(other), make_event(wanted)])
    # The rest as ingest stores a conditional batch: each with the atomic batch's headers, the first with the
    # position it expected here, which an empty cluster has not reached: import leaves both behind.
    rest = [make_event(wanted, minute=i) for i in range(1, 5)]
    stored = await publish_events(Acks(nc), EventStream.of(settings), rest, 10.0, first_seq, atomic=True)
    seqs = [first_seq, *(r.seq for r in stored)]
    await nc.jetstream().publish(
        f"crisis.events.{wanted}.StatementIssued", b"\xff not json", headers={"Nats-Msg-Id": "raw"}
    )

    exported = await crisis(settings, "export", "--incident", wanted)
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["seq"] for line in lines[:5]] == seqs[:5] and len(lines) == 6
    assert lines[0]["event"]["incident_id"] == wanted and lines[0]["headers"]["Nats-Msg-Id"]
    assert "payload_base64" in lines[5]
    from_seq = await crisis(settings, "export", "--from-seq", str(seqs[3]))
    assert [json.loads(line)["seq"] for line in from_seq.stdout.splitlines()][:2] == seqs[3:5]
    assert other_seq < seqs[3]  # not exported from there on

    archive = tmp_path / "backup.jsonl"
    archive.write_text(exported.stdout)
    elsewhere = EmbeddedNats(tmp_path / "other-cluster")  # restore into an empty cluster
    elsewhere.start()
    try:
        target = settings.model_copy(update={"nats_url": elsewhere.url})
        restored = await crisis(target, "import", str(archive))
        again = await crisis(target, "import", str(archive))
        other_nc = await nats.connect(elsewhere.url)
        try:
            js = other_nc.jetstream()
            state = (await js.stream_info(STREAM_NAME)).state
            first = await js.get_msg(STREAM_NAME, state.first_seq)
        finally:
            await other_nc.close()
    finally:
        elsewhere.stop()
    assert restored.exit_code == 0, restored.output
    assert "imported 6 event(s); 0 already in the stream" in restored.output
    assert "imported 0 event(s); 6 already in the stream" in again.output
    assert state.messages == 6
    assert json.loads(first.data or b"")["event_id"] == lines[0]["event"]["event_id"]  # file order kept


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"seq": 1}\n', "backup.jsonl:1: not an exported event"),
        (
            '{"subject": "elsewhere.x", "event": {"event_id": "e"}}\n',
            "backup.jsonl:1: subject 'elsewhere.x' is outside",
        ),
        ('{"subject": "crisis.events.a.B", "payload_base64": "eA=="}\n', "no Nats-Msg-Id header and no event_id"),
        ("not json\n", "backup.jsonl:1: not an exported event"),
    ],
)
async def test_a_bad_import_file_publishes_nothing(
    nc: Client, settings: Settings, tmp_path: Path, content: str, message: str
) -> None:
    archive = tmp_path / "backup.jsonl"
    good = '{"subject": "crisis.events.a.StatementIssued", "headers": {"Nats-Msg-Id": "m1"}, "event": {}}\n'
    archive.write_text(good + content)
    before = (await nc.jetstream().stream_info(STREAM_NAME)).state.messages
    result = await crisis(settings, "import", str(archive))
    assert result.exit_code == 2 and message.replace(":1:", ":2:") in result.output, result.output
    assert (await nc.jetstream().stream_info(STREAM_NAME)).state.messages == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "--from-seq", "999999"], "--from-seq 999999 is beyond the stream"),
        (["export", "--incident", "Not A Slug"], "is not an incident id"),
        (["import", "/nonexistent/file.jsonl"], "cannot read /nonexistent/file.jsonl"),
    ],
)
async def test_bad_export_and_import_arguments(settings: Settings, args: list[str], message: str) -> None:
    result = await crisis(settings, *args)
    assert result.exit_code == 2 and message in result.output, result.output
