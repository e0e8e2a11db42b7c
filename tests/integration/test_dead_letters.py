"""Dead letters end to end: poison events are kept, listed, shown, retried after a fix, discarded; dedupe by id."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from services.common.settings import Settings
from services.projector.read_models import PROJECTIONS
from tests.conftest import incident_id
from tests.factories import make_event, publish_args
from tests.integration.cli_runner import crisis
from tests.integration.test_projector import checkpoints, fetch, publish, running_projector
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")


async def poison_then_good(nc: Client, settings: Settings, incident: str) -> tuple[int, int]:
    """A payload missing a required field, then a good event; returns their sequences once both are projected."""
    bad = make_event(incident, "ResultsAnnulled").model_dump(mode="json")
    del bad["data"]["reason"]
    poison = await nc.jetstream().publish(
        f"crisis.events.{incident}.ResultsAnnulled", json.dumps(bad).encode(), headers={"Nats-Msg-Id": bad["event_id"]}
    )
    [good] = await publish(nc, [make_event(incident, minute=5)])
    async with running_projector(settings):
        await wait_until(
            lambda: checkpoints(settings.database_url or ""), lambda c: min(c.values()) == good, what="both projected"
        )
    return poison.seq, good


async def dead_letter_ids(settings: Settings, status: str = "open") -> list[int]:
    rows = await fetch(settings.database_url or "", "SELECT id FROM dead_letters WHERE status = %s ORDER BY id", status)
    return [r[0] for r in rows]


async def test_list_show_and_discard_with_counts_in_status(nc: Client, settings: Settings) -> None:
    incident = incident_id()
    poison, _ = await poison_then_good(nc, settings, incident)

    listed = await crisis(settings, "dead-letters", "list")
    assert listed.exit_code == 0
    assert f"{len(PROJECTIONS)} dead letter(s)" in listed.output and str(poison) in listed.output
    status = await crisis(settings, "status")
    assert all(f"{name:<16}" in status.output for name in PROJECTIONS)
    assert status.output.count(" 1\n") + status.output.endswith(" 1") == len(PROJECTIONS)

    first = (await dead_letter_ids(settings))[0]
    shown = await crisis(settings, "dead-letters", "show", str(first))
    assert shown.exit_code == 0
    assert f"stream seq:  {poison}" in shown.output and "reason" in shown.output and incident in shown.output

    discarded = await crisis(settings, "dead-letters", "discard", str(first), "--note", "test data")
    assert discarded.exit_code == 0
    assert await dead_letter_ids(settings, "discarded") == [first]
    [(note,)] = await fetch(settings.database_url or "", "SELECT note FROM dead_letters WHERE id = %s", first)
    assert note == "test data"
    again = await crisis(settings, "dead-letters", "discard", str(first))
    assert again.exit_code == 2 and "already discarded" in again.output


async def test_retry_applies_after_a_fix_and_keeps_a_failure_open(nc: Client, settings: Settings) -> None:
    incident = incident_id()
    poison, _ = await poison_then_good(nc, settings, incident)
    [event_log_letter] = [
        r[0]
        for r in await fetch(settings.database_url or "", "SELECT id FROM dead_letters WHERE projection = 'event_log'")
    ]

    still = await crisis(settings, "dead-letters", "retry", str(event_log_letter))
    assert still.exit_code == 1 and "still fails" in still.output
    [(attempts, status)] = await fetch(
        settings.database_url or "", "SELECT attempts, status FROM dead_letters WHERE id = %s", event_log_letter
    )
    assert (attempts, status) == (2, "open")

    # The fix: here, the stored payload is corrected (as a new schema or upcaster would make it decodable).
    await fetch(
        settings.database_url or "",
        "UPDATE dead_letters SET payload = convert_to(jsonb_set(convert_from(payload, 'UTF8')::jsonb,"
        " '{data,reason}', '\"fixed\"')::text, 'UTF8') WHERE id = %s RETURNING id",
        event_log_letter,
    )
    fixed = await crisis(settings, "dead-letters", "retry", str(event_log_letter), "--note", "reason restored")
    assert fixed.exit_code == 0, fixed.output
    logged = await fetch(settings.database_url or "", "SELECT stream_seq FROM event_log WHERE stream_seq = %s", poison)
    assert logged == [(poison,)]
    [(status,)] = await fetch(
        settings.database_url or "", "SELECT status FROM dead_letters WHERE id = %s", event_log_letter
    )
    assert status == "retried"


@pytest.mark.parametrize(
    "args, message",
    [
        (["dead-letters", "show", "999999"], "no dead letter with id 999999"),
        (["dead-letters", "retry", "999999"], "no dead letter with id 999999"),
        (["dead-letters", "list", "--projection", "nope"], "unknown projection 'nope'"),
    ],
)
async def test_bad_input_is_a_clear_message_and_exit_2(settings: Settings, args: list[str], message: str) -> None:
    result = await crisis(settings, *args)
    assert result.exit_code == 2 and message in result.output


async def test_the_same_event_published_twice_is_applied_once_by_every_projection(
    nc: Client, settings: Settings
) -> None:
    """A retry after JetStream's duplicate window: a second sequence holds the same event id."""
    incident = incident_id()
    event = make_event(incident, "IncidentOpened", title="Twice")
    args = publish_args(event)
    js = nc.jetstream()
    first = await js.publish(**args)
    second = await js.publish(**(args | {"headers": args["headers"] | {"Nats-Msg-Id": "a-later-retry"}}))
    assert second.seq != first.seq and not second.duplicate  # the stream really holds it twice
    [last] = await publish(nc, [make_event(incident, minute=3)])

    async with running_projector(settings):
        await wait_until(lambda: checkpoints(settings.database_url or ""), lambda c: min(c.values()) == last)

    [(count,)] = await fetch(
        settings.database_url or "", "SELECT event_count FROM incidents WHERE incident_id = %s", incident
    )
    assert count == 2
    assert await fetch(settings.database_url or "", "SELECT count(*) FROM event_log") == [(2,)]
    processed = await fetch(settings.database_url or "", "SELECT count(*) FROM processed_events")
    assert processed == [(2,)]  # one record per event, shared by every read model
