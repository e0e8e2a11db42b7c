"""The published contract: committed files match the models, are valid, and accept every demo event."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from schemas.catalogue import EVENT_TYPES, parse_submission
from schemas.contract import GENERATED_DIR, drift, write
from schemas.jsonschemas import schema_file, submission_file
from schemas.subjects import SUBJECT_PREFIX
from services.cli import app
from services.demo.loader import scenario_events
from services.ingest.recording import record

ASYNCAPI_TOOL = Path(__file__).parents[2] / "tools" / "asyncapi"


def committed_schema(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((GENERATED_DIR / path).read_text())
    return schema


def stored_demo_events() -> list[dict[str, Any]]:
    """The demo scenario's events as the stream holds them: submitted, then recorded as ingest does."""
    now = datetime.now(UTC)
    return [
        record(parse_submission(raw), event_id=uuid.UUID(raw["event_id"]), recorded_at=now, recorded_by="demo",
               correlation_id="demo-kg").model_dump(mode="json")
        for raw in scenario_events("kg-2020-election")
    ]  # fmt: skip


def test_the_committed_contract_is_what_the_models_generate() -> None:
    assert drift() == [], "run `crisis schemas` and commit schemas/generated/"


def test_drift_names_each_changed_missing_and_stale_file(tmp_path: Path) -> None:
    write(tmp_path)
    assert drift(tmp_path) == []
    (tmp_path / "envelope.json").write_text("{}\n")
    (tmp_path / schema_file("ResultsAnnulled", 2)).unlink()
    (tmp_path / "events" / "NoSuchType.v1.json").write_text("{}\n")
    assert drift(tmp_path) == [
        "events/ResultsAnnulled.v2.json: missing",
        "envelope.json: differs from the models",
        "events/NoSuchType.v1.json: stale (no such type or version)",
    ]
    write(tmp_path)
    assert drift(tmp_path) == []
    assert not (tmp_path / "events" / "NoSuchType.v1.json").exists()


def test_crisis_schemas_check_exits_non_zero_on_drift(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["schemas", "--dir", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["schemas", "--check", "--dir", str(tmp_path)]).exit_code == 0
    (tmp_path / "asyncapi.json").write_text("{}\n")
    result = runner.invoke(app, ["schemas", "--check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "asyncapi.json: differs from the models" in result.output


def test_every_json_schema_is_valid_draft_2020_12() -> None:
    paths = ["envelope.json", *(schema_file(t, c.schema_version) for t, c in EVENT_TYPES.items())]
    for path in paths:
        schema = committed_schema(path)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)


def test_the_json_schemas_validate_every_demo_event() -> None:
    events = stored_demo_events()
    envelope = Draft202012Validator(committed_schema("envelope.json"))
    for event in events:
        envelope.validate(event)
        Draft202012Validator(committed_schema(schema_file(event["type"], event["schema_version"]))).validate(event)
    assert {e["type"] for e in events} >= {"IncidentOpened", "ResultsAnnulled", "CasualtiesReported"}


def test_the_submission_schemas_take_what_a_writer_sends_and_refuse_what_ingest_sets() -> None:
    for raw in scenario_events("kg-2020-election"):
        schema = committed_schema(submission_file(raw["type"], EVENT_TYPES[raw["type"]].schema_version))
        Draft202012Validator(schema).validate({**raw, "expected_position": 3})
    opened = scenario_events("kg-2020-election")[0]
    validator = Draft202012Validator(committed_schema(submission_file(opened["type"], 1)))
    without_id = {key: value for key, value in opened.items() if key not in ("event_id", "schema_version")}
    assert validator.is_valid(without_id)
    assert not validator.is_valid({**opened, "recorded_at": "2020-10-05T18:00:00Z"})
    assert not validator.is_valid({**opened, "recorded_by": "someone"})


def test_a_leap_second_is_accepted_as_the_last_microsecond_before_it() -> None:
    opened = scenario_events("kg-2020-election")[0] | {"occurred_at": "2016-12-31T23:59:60Z"}
    assert parse_submission(opened).occurred_at == datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    described = committed_schema(submission_file(opened["type"], 1))["properties"]["occurred_at"]["description"]
    assert "leap second" in described


@pytest.mark.parametrize(
    "change",
    [
        {"type": "StatementIssued"},  # another type's shape
        {"schema_version": 3},
        {"data": {"election_id": "parl-2020", "annulled_by": "CEC", "reason": "tension", "extra": 1}},
        {"data": {"election_id": "parl-2020", "annulled_by": "CEC"}},
    ],
)
def test_the_json_schema_refuses_what_the_model_refuses(change: dict[str, Any]) -> None:
    [annulled] = [e for e in stored_demo_events() if e["type"] == "ResultsAnnulled"]
    validator = Draft202012Validator(committed_schema(schema_file("ResultsAnnulled", 2)))
    assert validator.is_valid(annulled)
    assert not validator.is_valid({**annulled, **change})


def test_the_asyncapi_document_has_a_channel_and_message_per_event_type() -> None:
    document = committed_schema("asyncapi.json")
    assert document["asyncapi"].startswith("3.")
    schemas = document["components"]["schemas"]
    for event_type in EVENT_TYPES:
        channel = document["channels"][event_type]
        assert channel["address"] == f"{SUBJECT_PREFIX}.{{incident_id}}.{event_type}"
        message = document["components"]["messages"][event_type]
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        assert payload["properties"]["type"] == {
            "const": event_type,
            "description": payload["properties"]["type"]["description"],
        }
        assert document["operations"][f"receive{event_type}"]["action"] == "receive"
    headers = schemas["EventHeaders"]["properties"]
    assert {"Nats-Msg-Id", "X-Correlation-ID"} <= headers.keys()
    [server] = document["servers"].values()
    assert server["host"] == "{host}:{port}" and {"host", "port"} <= server["variables"].keys()


def asyncapi_parser(path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed; the AsyncAPI parser runs on node")
    if not (ASYNCAPI_TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: npm ci --prefix tools/asyncapi (scripts/check does it)")
    script = ASYNCAPI_TOOL / "validate.mjs"
    return subprocess.run(["node", str(script), str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_the_asyncapi_parser_accepts_the_document() -> None:
    result = asyncapi_parser(GENERATED_DIR / "asyncapi.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["valid"] is True


def test_the_asyncapi_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    document = committed_schema("asyncapi.json")
    document["channels"]["ResultsAnnulled"]["messages"]["ResultsAnnulled"] = {"$ref": "#/components/messages/Nope"}
    (tmp_path / "asyncapi.json").write_text(json.dumps(document))
    result = asyncapi_parser(tmp_path / "asyncapi.json")
    assert result.returncode == 1
    assert "does not exist" in result.stdout
