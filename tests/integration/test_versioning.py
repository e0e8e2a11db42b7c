"""Schema evolution on a real stream: an event of StatementIssued's current version (2) stays readable after the
type moves on to version 3."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from nats.aio.client import Client
from pydantic import Field

from schemas import catalogue, upcasting
from schemas.contract import drift, write
from schemas.envelope import Event
from schemas.events.base import EventPayload
from schemas.events.political import StatementIssued
from schemas.jsonschemas import schema_file
from schemas.values import ActorRef, Name, Text
from services.common.settings import Settings
from tests.conftest import incident_id
from tests.factories import make_event, publish_args
from tests.stack import project, running_stack

pytestmark = pytest.mark.usefixtures("stream")


SPEAKER = {"id": "someone", "name": "Someone", "kind": "person"}


class StatementIssuedV3(EventPayload):
    """StatementIssued, version 3: `quote` is renamed `text`, and the speaker's role is new."""

    schema_version = 3
    speaker: ActorRef
    speaker_role: Name | None = None
    text: Text
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    channel: Name | None = None
    translated_from: str | None = None
    original_quote: Text | None = None

    @classmethod
    def event_type(cls) -> str:
        return "StatementIssued"


def quote_becomes_text(data: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in data.items() if k != "quote"}, "text": data["quote"]}


def move_statement_to_v3(monkeypatch: pytest.MonkeyPatch) -> None:
    """StatementIssued at version 3, with its upcaster from version 2, for this test only."""
    event_types = cast(dict[str, type[EventPayload]], catalogue.EVENT_TYPES)
    monkeypatch.setitem(event_types, "StatementIssued", StatementIssuedV3)
    monkeypatch.setitem(upcasting.UPCASTERS, ("StatementIssued", 2), quote_becomes_text)


def version_2_statement(incident: str, minute: int = 0) -> Event[Any]:
    return make_event(incident, "StatementIssued", minute=minute, quote="Stay calm.")


async def test_a_version_2_event_in_the_stream_is_read_as_version_3_by_the_projection_and_the_query_api(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = incident_id()
    old = version_2_statement(incident, minute=1)
    assert old.schema_version == 2
    js = nc.jetstream()
    old_seq = (await js.publish(**publish_args(old))).seq  # the stream keeps these bytes, version 2, for ever

    move_statement_to_v3(monkeypatch)
    new = Event[StatementIssuedV3].model_validate(
        old.model_dump()
        | {"event_id": uuid.uuid4(), "schema_version": 3, "occurred_at": old.occurred_at.replace(minute=2)}
        | {"data": {"speaker": SPEAKER, "speaker_role": "Mayor", "text": "We are negotiating."}}
    )
    new_seq = (await js.publish(**publish_args(new))).seq

    database_url = settings.database_url or ""
    await project(database_url, nc, old_seq)  # the projector's own code: parse_event, handlers, checkpoint
    await project(database_url, nc, new_seq)

    async with running_stack(settings) as stack:
        timeline = (await stack.query.get(f"/v1/incidents/{incident}/timeline")).json()["items"]
        assert [(e["position"], e["data"]["text"]) for e in timeline] == [
            (old_seq, "Stay calm."),
            (new_seq, "We are negotiating."),
        ]
        assert "quote" not in timeline[0]["data"]
        stored = (await stack.query.get(f"/v1/events/{old.event_id}")).json()["event"]
        assert (stored["schema_version"], stored["data"]["text"]) == (3, "Stay calm.")
        incidents = await stack.query.get("/v1/incidents")
        assert incidents.json()["items"][0]["event_count"] == 2  # the incidents projection applied both too


class StatementIssuedWithLanguage(StatementIssued):
    """StatementIssued with a required language; statements without one read as "und" (undetermined)."""

    schema_version = 3
    language: str = Field(pattern=r"^[a-z]{2,3}$")


async def test_a_read_model_row_written_before_a_version_bump_is_read_through_the_upcasters(
    settings: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = incident_id()
    old = version_2_statement(incident)
    seq = (await nc.jetstream().publish(**publish_args(old))).seq
    await project(settings.database_url or "", nc, seq)  # the row is written at version 2, before the bump

    event_types = cast(dict[str, type[EventPayload]], catalogue.EVENT_TYPES)
    monkeypatch.setitem(event_types, "StatementIssued", StatementIssuedWithLanguage)
    monkeypatch.setitem(upcasting.UPCASTERS, ("StatementIssued", 2), lambda data: {**data, "language": "und"})
    async with running_stack(settings) as stack:
        answer = await stack.query.get(f"/v1/incidents/{incident}/statements")
        [said] = answer.json()["items"][0]["statements"]
        assert (said["details"]["quote"], said["details"]["language"]) == ("Stay calm.", "und")


def test_an_event_without_an_upcaster_to_the_current_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = version_2_statement("kg").model_dump(mode="json")
    move_statement_to_v3(monkeypatch)
    assert catalogue.parse_event(raw).data.text == "Stay calm."
    del upcasting.UPCASTERS[("StatementIssued", 2)]
    with pytest.raises(upcasting.CannotUpcast, match="no upcaster from version 2 of StatementIssued"):
        catalogue.parse_event(raw)


def test_an_event_newer_than_the_code_is_refused() -> None:
    raw = make_event("kg", "StatementIssued").model_dump(mode="json") | {"schema_version": 3}
    with pytest.raises(upcasting.CannotUpcast, match="version 3 is newer than this code's version 2"):
        catalogue.parse_event(raw)


def test_a_new_version_publishes_a_new_schema_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    move_statement_to_v3(monkeypatch)
    v2_schema = (Path(__file__).parents[2] / "schemas" / "generated" / schema_file("StatementIssued", 2)).read_text()
    (tmp_path / "events").mkdir()
    (tmp_path / schema_file("StatementIssued", 2)).write_text(v2_schema)
    write(tmp_path)
    assert drift(tmp_path) == []  # version 2 is still published: events of it remain in the stream
    assert (tmp_path / schema_file("StatementIssued", 2)).read_text() == v2_schema
    assert '"const": 3' in (tmp_path / schema_file("StatementIssued", 3)).read_text()
