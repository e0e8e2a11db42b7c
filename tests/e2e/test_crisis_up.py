"""`crisis up --demo` as a user runs it: a subprocess on embedded servers, then the HTTP APIs, then SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from services.common.ports import free_port
from services.common.settings import Settings
from tests.unit.test_http_protocol import MALFORMED_REQUEST, exchange

INCIDENT = "kg-2020-election"
START_TIMEOUT_S = 120.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    ingest: str
    query: str
    token: str
    descendants: list[psutil.Process]


def start(data_dir: Path, **settings: str) -> Running:
    """`crisis up --demo` on `data_dir` with these CRISIS_ settings only. Its output goes to files beside the data
    dir (a pipe nobody reads once it is up would fill, and block every service that logs)."""
    ports = [free_port() for _ in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")} | {"CRISIS_LOG_FORMAT": "json"}
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stdout = output_path(data_dir, "stdout")
    with stdout.open("w") as out, output_path(data_dir, "stderr").open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "services", "up", "--demo", "--data-dir", str(data_dir),
             "--ingest-port", str(ports[0]), "--query-port", str(ports[1]), "--projector-port", str(ports[2])],
            env=env | settings, stdout=out, stderr=err, text=True,
        )  # fmt: skip
    started = time.monotonic()
    while time.monotonic() < started + START_TIMEOUT_S and process.poll() is None:
        output = stdout.read_text()
        if "\nCtrl-C stops everything" in output:
            token = (data_dir / "api-token").read_text().strip()
            descendants = psutil.Process(process.pid).children(recursive=True)
            ingest, query = (f"http://127.0.0.1:{port}" for port in ports[:2])
            running = Running(process, ingest, query, token, descendants)
            limit = settings.get("CRISIS_WRITE_RATE_LIMIT", Settings.model_fields["write_rate_limit"].default)
            if token not in output or f"writes     {limit} per token" not in output:
                stop(running)
                raise AssertionError(f"the banner does not print the API token and the write limit:\n{output}")
            return running
        time.sleep(0.2)  # polling a file another process writes
    code = process.poll()
    process.kill()
    process.wait()
    raise AssertionError(
        f"crisis up did not come up ({'still starting' if code is None else f'exit code {code}'} "
        f"after {time.monotonic() - started:.0f} s); it printed:\n{stdout.read_text()[-5000:]}\n"
        f"and on stderr:\n{output_path(data_dir, 'stderr').read_text()[-5000:]}"
    )


def output_path(data_dir: Path, stream: str) -> Path:
    return data_dir.with_name(f"{data_dir.name}.{stream}")


def stop(running: Running) -> None:
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(running.descendants, timeout=10)
    assert alive == [], f"processes left behind: {alive}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def timeline(running: Running, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{running.query}/v1/incidents/{INCIDENT}/timeline", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["items"]
    return entries


def test_demo_end_to_end_then_restart_keeps_data_without_duplicates(data_dir: Path) -> None:
    running = start(data_dir)
    try:
        response = httpx.get(f"{running.query}/v1/incidents/{INCIDENT}")
        assert response.status_code == 200, response.text
        incident = response.json()
        assert incident["title"].startswith("Kyrgyzstan")
        count = incident["event_count"]

        casualties = httpx.get(f"{running.query}/v1/incidents/{INCIDENT}/casualties").json()
        injured = next(c for c in casualties["categories"] if c["category"] == "injured")
        figures = {s["source"]["kind"]: s["latest"]["count"] for s in injured["sources"]}
        assert (figures["government"]["value"], figures["media"]["text"]) == (590, "hundreds")
        for service in (running.ingest, running.query):  # not valid HTTP: the API's JSON error all the same
            status, refusal, _ = exchange(urlsplit(service).port or 0, MALFORMED_REQUEST)
            assert (status, refusal[b"content-type"]) == (b"HTTP/1.1 400 Bad Request", b"application/json")
        flood = httpx.get(f"{running.query}/v1/incidents/xa-2021-valley-flood")
        assert flood.status_code == 200 and flood.json()["status"] == "ongoing"  # the second demo scenario

        annulled = timeline(running, type="ResultsAnnulled")
        assert [(e["data"]["annulled_by"]["name"], e["source"]["via"]) for e in annulled] == [
            ("Central Election Commission of Kyrgyzstan", "Interfax")
        ]
        government = [
            e["data"]["figures"]
            for e in timeline(running, type="CasualtiesReported")
            if e["source"]["kind"] == "government"
        ]
        assert government == [
            [{"category": "injured", "group": "total", "count": {"value": 590, "min": None, "max": None, "text": None}},
             {"category": "killed", "group": "total", "count": {"value": 1, "min": None, "max": None, "text": None}}]
        ]  # fmt: skip
        released = {
            e["data"]["person"]["name"]: e["data"]["released_by"] for e in timeline(running, type="PrisonerReleased")
        }
        assert released["Almazbek Atambayev"] == "protesters"

        # A retried POST with the same Idempotency-Key is one event.
        report = {
            "type": "StatementIssued", "incident_id": INCIDENT, "occurred_at": "2020-10-07T10:00:00+06:00",
            "source": {"name": "E2E wire", "kind": "media"},
            "data": {"speaker": {"id": "tester", "name": "Tester", "kind": "person"}, "quote": "Once."},
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {running.token}", "Idempotency-Key": "e2e-retry"}
        first = httpx.post(f"{running.ingest}/v1/events", json=report, headers=headers)
        again = httpx.post(f"{running.ingest}/v1/events", json=report, headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.json()["seq"] == first.json()["seq"] and again.json()["duplicate"] is True
        # ...derived under a secret generated for this data dir, for the owner's eyes only, kept across restarts.
        secret_file = data_dir / "event-id-secret"
        secret = secret_file.read_text()
        assert secret_file.stat().st_mode & 0o777 == 0o600 and len(secret.strip()) >= 32
    finally:
        stop(running)

    running = start(data_dir)  # same data dir: every event kept, the demo not posted twice
    try:
        deadline = time.monotonic() + 30
        while (incident := httpx.get(f"{running.query}/v1/incidents/{INCIDENT}").json())["event_count"] != count + 1:
            assert time.monotonic() < deadline, incident
            time.sleep(0.1)
        assert len(timeline(running, type="PrisonerReleased")) == 5
        assert secret_file.read_text() == secret
    finally:
        stop(running)
