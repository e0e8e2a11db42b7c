"""The read side is typed: a payload field renamed in the contract fails mypy and the domain's tests, not a
request; a row stored at an old schema_version is read through the stream's upcasters."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from mypy import api as mypy_api
from pydantic import Field, ValidationError

from schemas import catalogue, upcasting
from schemas.events.base import EventPayload
from schemas.events.detentions import ReleasedBy
from schemas.events.political import StatementIssued
from schemas.values import ActorRef
from services.domain.detentions import DetentionRow, custody
from services.domain.statements import StatementRow, by_speaker

ROOT = Path(__file__).parents[2]
T0 = datetime(2020, 10, 6, tzinfo=UTC)


def event_types() -> dict[str, type[EventPayload]]:
    return cast(dict[str, type[EventPayload]], catalogue.EVENT_TYPES)


def stored_row(type_: str, schema_version: int, payload: dict[str, Any], **key: str) -> dict[str, Any]:
    """A read-model row as the view selects it: the payload as JSON, with its type and schema_version."""
    event_id = uuid.uuid4()
    return {
        "event_id": event_id,
        "version_of": event_id,
        "type": type_,
        "schema_version": schema_version,
        "payload": payload,
        "source": {"name": "Wire", "kind": "media"},
        "occurred_at": T0,
        "recorded_at": T0,
        "stream_seq": 1,
        "verification": "reported",
        **key,
    }


def test_a_renamed_payload_field_fails_mypy_in_the_domain(tmp_path: Path) -> None:
    for package in ("schemas", "services/domain"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "generated"))
    (tmp_path / "services" / "__init__.py").touch()
    contract = tmp_path / "schemas" / "events" / "detentions.py"
    contract.write_text(contract.read_text().replace("    released_by: ReleasedBy", "    freed_by: ReleasedBy"))
    config = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / ".mypy_cache")]
    out, _, status = mypy_api.run([*config, str(tmp_path / "services" / "domain" / "detentions.py")])
    assert status == 1
    assert re.search(r'detentions\.py:\d+: error: "PrisonerReleased" has no attribute "released_by"', out), out


def test_a_renamed_payload_field_fails_the_domain_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the dict-reading domain answered `released_by: null` for every release, it now refuses the row."""

    class PrisonerReleased(EventPayload):  # the contract with `released_by` renamed `freed_by`
        person: ActorRef
        freed_by: ReleasedBy

    monkeypatch.setitem(event_types(), "PrisonerReleased", PrisonerReleased)
    person = {"id": "p", "name": "P", "kind": "person", "role": None}
    row = stored_row("PrisonerReleased", 1, {"person": person, "freed_by": "court"}, person_id="p")
    with pytest.raises(ValidationError, match="PrisonerReleased"):
        custody([DetentionRow.model_validate(row)])


class StatementIssuedV3(StatementIssued):
    """StatementIssued, version 3: the language is required; version 2's statements without one are "und"."""

    schema_version = 3
    language: str = Field(pattern=r"^[a-z]{2,3}$")


def test_a_row_stored_at_an_old_schema_version_is_read_through_the_upcasters(monkeypatch: pytest.MonkeyPatch) -> None:
    speaker = {"id": "someone", "name": "Someone", "kind": "person", "role": None}
    old = stored_row("StatementIssued", 2, {"speaker": speaker, "quote": "Stay calm."}, speaker_id="someone")
    monkeypatch.setitem(event_types(), "StatementIssued", StatementIssuedV3)
    with pytest.raises(ValidationError, match="no upcaster from version 2 of StatementIssued"):
        StatementRow.model_validate(old)
    monkeypatch.setitem(upcasting.UPCASTERS, ("StatementIssued", 2), lambda data: {"language": "und", **data})
    [said] = by_speaker([StatementRow.model_validate(old)])
    assert said.statements[0].details["language"] == "und"
    assert said.statements[0].details["quote"] == "Stay calm."
