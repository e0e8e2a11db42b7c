"""Ingest's HTTP API without any server: validation, auth, rate limits, on the in-memory event log.

What rests on NATS (dedupe, expected positions, publish retries, refused ids) is tested on a real nats-server in
tests/integration/; the in-memory log is held to the same promises by tests/eventlog_contract.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from services.common.auth import TokenConfigError
from services.common.settings import Settings
from services.ingest.app import create_app
from services.ingest.identity import EventIdSecretMissing
from tests.conftest import EVENT_ID_SECRET, incident_id
from tests.factories import incident_opened, results_annulled
from tests.fake_eventlog import InMemoryEventLog

TOKEN, READER, OTHER = (secrets.token_urlsafe(18) for _ in range(3))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fast_settings(tmp_path: Path, **update: Any) -> Settings:
    tokens = SecretStr(f"tester:{TOKEN},reader:{READER}:events:read,other:{OTHER}")
    settings = Settings(data_dir=tmp_path, api_tokens=tokens, event_id_secret=EVENT_ID_SECRET)
    return settings.model_copy(update=update)


@dataclass
class FastIngest:
    http: httpx.AsyncClient
    log: InMemoryEventLog


@asynccontextmanager
async def running_ingest(settings: Settings) -> AsyncIterator[FastIngest]:
    event_log = InMemoryEventLog()
    async with (
        LifespanManager(create_app(settings, event_log)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://ingest") as client,
    ):
        yield FastIngest(client, event_log)


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[FastIngest]:
    async with running_ingest(fast_settings(tmp_path)) as running:
        yield running


async def test_a_batch_of_exactly_max_batch_is_accepted_and_one_more_is_413(tmp_path: Path) -> None:
    incident = incident_id()
    async with running_ingest(fast_settings(tmp_path, max_batch=3)) as ingest:
        accepted = await ingest.http.post(
            "/v1/events/batch", json={"events": [incident_opened(incident)] * 3}, headers=AUTH
        )
        refused = await ingest.http.post(
            "/v1/events/batch", json={"events": [incident_opened(incident)] * 4}, headers=AUTH
        )

    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 413
    assert refused.json()["count"] == 4
    assert refused.json()["max_batch"] == 3
    assert "at most 3" in refused.json()["error"]
    assert len(ingest.log.stored) == 3


async def test_one_bad_event_refuses_the_whole_batch(ingest: FastIngest) -> None:
    incident = incident_id()
    events = [results_annulled(incident) for _ in range(6)]
    del events[3]["data"]["reason"]
    before = len(ingest.log.stored)

    response = await ingest.http.post("/v1/events/batch", json={"events": events}, headers=AUTH)

    assert response.status_code == 422
    details = response.json()["details"]
    assert [d["loc"] for d in details] == [["body", "events", 3, "data", "reason"]]
    assert details[0]["type"] == "missing"
    assert len(ingest.log.stored) == before


async def test_an_unknown_type_in_a_batch_names_its_index(ingest: FastIngest) -> None:
    events = [incident_opened(incident_id()), incident_opened(incident_id()) | {"type": "AliensLanded"}]

    response = await ingest.http.post("/v1/events/batch", json={"events": events}, headers=AUTH)

    assert response.status_code == 422
    [detail] = response.json()["details"]
    assert detail["loc"] == ["body", "events", 1, "type"]
    assert "AliensLanded" in detail["msg"]
    assert "IncidentOpened" in detail["msg"]  # the known types are listed
    assert len(ingest.log.stored) == 0


@pytest.mark.parametrize(
    ("change", "loc", "error_type"),
    [
        ({"type": "AliensLanded"}, ["body", "type"], "unknown_event_type"),
        ({"occurred_at": "2020-10-05T18:00:00"}, ["body", "occurred_at"], "timezone_aware"),
        ({"incident_id": "Not A Slug"}, ["body", "incident_id"], "string_pattern_mismatch"),
        ({"colour": "red"}, ["body", "colour"], "extra_forbidden"),
        ({"recorded_at": "2020-10-05T18:00:00+00:00"}, ["body", "recorded_at"], "extra_forbidden"),
        ({"recorded_by": "someone-else"}, ["body", "recorded_by"], "extra_forbidden"),
        ({"data": {}}, ["body", "data", "title"], "missing"),
    ],
    ids=["unknown-type", "naive-time", "bad-slug", "unknown-field", "recorded-at", "recorded-by", "missing-field"],
)
async def test_an_invalid_event_is_422_naming_the_field(
    ingest: FastIngest, change: dict[str, Any], loc: list[str], error_type: str
) -> None:
    response = await ingest.http.post("/v1/events", json=incident_opened(incident_id()) | change, headers=AUTH)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid event"
    assert [(d["loc"], d["type"]) for d in body["details"]] == [(loc, error_type)]
    assert len(ingest.log.stored) == 0


async def test_a_leap_second_is_accepted(ingest: FastIngest) -> None:
    report = incident_opened(incident_id()) | {"occurred_at": "2016-12-31T23:59:60Z"}
    response = await ingest.http.post("/v1/events", json=report, headers=AUTH)

    assert response.status_code == 202, response.text
    [stored] = ingest.log.stored
    assert stored.event.occurred_at.isoformat() == "2016-12-31T23:59:59.999999+00:00"


async def test_a_casualty_report_giving_a_category_twice_is_422_naming_it(ingest: FastIngest) -> None:
    figures = [{"category": "killed", "count": {"value": 3}}, {"category": "killed", "count": {"text": "dozens"}}]
    report = incident_opened(incident_id()) | {"type": "CasualtiesReported", "data": {"figures": figures}}
    response = await ingest.http.post("/v1/events", json=report, headers=AUTH)

    assert response.status_code == 422
    [detail] = response.json()["details"]
    assert detail["loc"] == ["body", "data", "figures"]
    assert "category killed (total) is given more than once" in detail["msg"]
    assert len(ingest.log.stored) == 0


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch"])
async def test_bad_json_is_422(ingest: FastIngest, path: str) -> None:
    response = await ingest.http.post(
        path, content=b'{"type": "IncidentOpened",', headers=AUTH | {"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid JSON"
    assert body["details"][0]["loc"] == ["body"]
    assert body["details"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [([], ["body"]), ({"events": []}, ["body", "events"]), ({"events": [], "extra": 1}, ["body", "extra"])],
    ids=["not-an-object", "empty", "unknown-key"],
)
async def test_a_malformed_batch_is_422(ingest: FastIngest, body: Any, loc: list[str]) -> None:
    response = await ingest.http.post("/v1/events/batch", json=body, headers=AUTH)

    assert response.status_code == 422
    assert loc in [d["loc"] for d in response.json()["details"]]


async def test_a_correlation_id_header_unfit_for_the_envelope_is_422(ingest: FastIngest) -> None:
    response = await ingest.http.post(
        "/v1/events", json=incident_opened(incident_id()), headers=AUTH | {"X-Correlation-ID": "has spaces"}
    )

    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["header", "X-Correlation-ID"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-configured-token"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "unknown", "not-bearer"],
)
@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch"])
async def test_without_a_valid_token_it_is_401(ingest: FastIngest, headers: dict[str, str], path: str) -> None:
    body = {"events": [incident_opened(incident_id())]} if path.endswith("batch") else incident_opened(incident_id())

    response = await ingest.http.post(path, json=body, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in response.json()["error"]
    assert len(ingest.log.stored) == 0


async def test_ingest_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="CRISIS_API_TOKENS"):
        async with running_ingest(fast_settings(tmp_path, api_tokens=None)):
            pass


async def test_ingest_refuses_to_start_without_the_event_id_secret(tmp_path: Path) -> None:
    with pytest.raises(EventIdSecretMissing, match="CRISIS_EVENT_ID_SECRET"):
        async with running_ingest(fast_settings(tmp_path, event_id_secret=None)):
            pass


async def test_a_token_without_the_write_scope_is_403_and_nothing_is_published(ingest: FastIngest) -> None:
    response = await ingest.http.post(
        "/v1/events", json=incident_opened(incident_id()), headers={"Authorization": f"Bearer {READER}"}
    )

    assert response.status_code == 403
    assert "events:write" in response.json()["error"]
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    assert len(ingest.log.stored) == 0


@pytest.mark.parametrize("if_match", ["abc", "-1", '"1" "2"'])
async def test_a_malformed_if_match_is_422(ingest: FastIngest, if_match: str) -> None:
    response = await ingest.http.post(
        "/v1/events", json=incident_opened(incident_id()), headers=AUTH | {"If-Match": if_match}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["header", "If-Match"]


async def test_an_oversized_body_is_413_whether_declared_or_streamed(tmp_path: Path) -> None:
    async with running_ingest(fast_settings(tmp_path, max_body_bytes=2048)) as ingest:
        declared = await ingest.http.post("/v1/events", content=b"x" * 4096, headers=AUTH)

        async def chunks() -> Any:  # no Content-Length: the cap holds while reading
            for _ in range(8):
                yield b" " * 1024

        streamed = await ingest.http.post("/v1/events/batch", content=chunks(), headers=AUTH)

    assert declared.status_code == 413 and "2048" in declared.json()["error"]
    assert streamed.status_code == 413
    assert len(ingest.log.stored) == 0


@pytest.mark.parametrize(
    ("title", "loc", "kind"),
    [
        ("bad\x00byte", ["body", "data", "title"], "control_character"),
        ("escape \x1b[31m", ["body", "data", "title"], "control_character"),
        ("lone \ud800 surrogate", ["body", "data", "title"], "control_character"),
        ("x" * 20_000, ["body", "data", "title"], "string_too_long"),
    ],
    ids=["nul", "escape", "surrogate", "huge-string"],
)
async def test_control_characters_and_huge_strings_are_422_naming_the_field(
    ingest: FastIngest, title: str, loc: list[str], kind: str
) -> None:
    # json.dumps escapes what UTF-8 cannot carry (a lone surrogate) as \\ud800, as a client's JSON would.
    body = json.dumps(incident_opened(incident_id(), title=title))
    response = await ingest.http.post("/v1/events", content=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["details"][0] | {"msg": ""} == {"loc": loc, "msg": "", "type": kind}


async def test_strings_are_stored_nfc_normalised_and_newlines_kept(ingest: FastIngest) -> None:
    incident = incident_id()
    decomposed = "Bishkek Cafe\u0301"  # e + combining acute
    event = incident_opened(incident, title=decomposed)
    event["data"]["description"] = "line one\nline two\twith a tab"
    response = await ingest.http.post("/v1/events", json=event, headers=AUTH)
    assert response.status_code == 202, response.json()
    [stored] = [s.event for s in ingest.log.stored]
    assert stored.data.title == "Bishkek Caf\u00e9"
    assert stored.data.description == "line one\nline two\twith a tab"


async def test_a_timestamp_beyond_the_clock_skew_is_422(tmp_path: Path) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=1)
    later = datetime.now(UTC) + timedelta(hours=1)
    async with running_ingest(fast_settings(tmp_path, clock_skew_s=300)) as ingest:
        within = await ingest.http.post(
            "/v1/events", json=incident_opened(incident_id()) | {"occurred_at": soon.isoformat()}, headers=AUTH
        )
        beyond = await ingest.http.post(
            "/v1/events", json=incident_opened(incident_id()) | {"reported_at": later.isoformat()}, headers=AUTH
        )
    assert within.status_code == 202
    assert beyond.status_code == 422
    assert beyond.json()["details"][0]["loc"] == ["body", "reported_at"]
    assert beyond.json()["details"][0]["type"] == "datetime_future"


async def test_a_token_over_its_rate_is_429_with_retry_after_and_others_are_not(tmp_path: Path) -> None:
    async with running_ingest(fast_settings(tmp_path, write_rate_limit="3/minute")) as ingest:
        answers = [
            await ingest.http.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH) for _ in range(4)
        ]
        others = await ingest.http.post(
            "/v1/events", json=incident_opened(incident_id()), headers={"Authorization": f"Bearer {OTHER}"}
        )
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    assert others.status_code == 202


# --- the event log's refusals, as the writer sees them ----------------------------------------------------------------


async def test_a_stale_expected_position_is_409_with_the_current_position(ingest: FastIngest) -> None:
    incident = incident_id()
    opened = await ingest.http.post("/v1/events", json=incident_opened(incident), headers=AUTH)

    stale = await ingest.http.post("/v1/events", json=results_annulled(incident), headers=AUTH | {"If-Match": "0"})

    assert stale.status_code == 409
    assert stale.json() | {"error": ""} == {
        "error": "",
        "incident_id": incident,
        "expected_position": 0,
        "current_position": opened.json()["seq"],
    }
    assert "nothing was published" in stale.json()["error"]


@pytest.mark.parametrize(
    ("path", "wrap", "where"),
    [("/v1/events", lambda e: e, ["body"]), ("/v1/events/batch", lambda e: {"events": [e]}, ["body", "events", 0])],
    ids=["one", "batch"],
)
async def test_a_taken_id_is_409_naming_where_the_id_came_from(
    ingest: FastIngest, path: str, wrap: Any, where: list[str | int]
) -> None:
    incident = incident_id()
    key = AUTH | {"Idempotency-Key": "k-1"}
    submitted = incident_opened(incident) | {"event_id": "0b6f3c1e-5a0d-4d0e-8f59-3f2a1c9e7b11"}
    assert (await ingest.http.post(path, json=wrap(incident_opened(incident)), headers=key)).status_code == 202
    assert (await ingest.http.post(path, json=wrap(submitted), headers=AUTH)).status_code == 202

    by_key = await ingest.http.post(path, json=wrap(incident_opened(incident, title="Other")), headers=key)
    by_id = await ingest.http.post(path, json=wrap(submitted), headers={"Authorization": f"Bearer {OTHER}"})

    assert (by_key.status_code, by_id.status_code) == (409, 409)
    [key_detail], [id_detail] = by_key.json()["details"], by_id.json()["details"]
    assert (key_detail["loc"], key_detail["type"]) == (["header", "Idempotency-Key"], "event_id_taken")
    assert "different body" in key_detail["msg"]
    assert (id_detail["loc"], id_detail["type"]) == ([*where, "event_id"], "event_id_taken")
    assert "another writer" in id_detail["msg"]
    assert len(ingest.log.stored) == 2


async def test_an_event_log_that_is_down_is_503_with_retry_after(ingest: FastIngest) -> None:
    ingest.log.available = False

    ready = await ingest.http.get("/readyz")
    posted = await ingest.http.post("/v1/events", json=incident_opened(incident_id()), headers=AUTH)

    assert ready.status_code == 503 and ready.json()["checks"]["nats"].startswith("unavailable")
    assert posted.status_code == 503 and int(posted.headers["Retry-After"]) > 0
