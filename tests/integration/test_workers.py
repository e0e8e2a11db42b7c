"""`crisis ingest --workers 2` and `crisis query --workers 2` as an operator runs them, on the real servers: each
worker stores what it accepts, /metrics adds the workers up, the rate limit stays the configured one, new
connections are spread over the workers, a second service on the port is refused, and SIGTERM stops every worker.

Each request goes over a connection the test has pinned to a known worker (the worker process that holds the
connection's server side), so that both workers serve requests whatever the kernel's accept order."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import psutil
import pytest
from nats.aio.client import Client

from schemas.subjects import STREAM_NAME
from services.common.ports import free_port
from services.common.settings import Settings
from tests.conftest import EVENT_ID_SECRET, incident_id
from tests.factories import incident_opened, make_event
from tests.integration.test_ingest_api import AUTH, TOKEN
from tests.integration.test_projector import publish
from tests.stack import project
from tests.waiting import wait_until

HOST = "127.0.0.1"
WORKERS = 2


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Pinned:
    """A kept-alive HTTP connection, and the worker that accepted it."""

    def __init__(self, port: int, workers: list[psutil.Process]) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=30)
        assert self.request("GET", "/healthz").status == 200  # answered: a worker has accepted the connection
        assert self.connection.sock is not None
        local_port = self.connection.sock.getsockname()[1]
        self.worker = next(w.pid for w in workers if local_port in _peer_ports(w))

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        payload = json.dumps(body).encode() if body is not None else None
        headers = AUTH | ({"Content-Type": "application/json"} if payload is not None else {})
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())


def _peer_ports(process: psutil.Process) -> set[int]:
    return {c.raddr.port for c in process.net_connections("tcp") if c.raddr}


def _listening_on(process: psutil.Process, port: int) -> set[int]:
    """The inodes of the process's sockets listening on `port`: the same inode in two processes is one socket."""
    return {
        os.stat(f"/proc/{process.pid}/fd/{c.fd}").st_ino
        for c in process.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


@contextmanager
def one_per_worker(port: int, workers: list[psutil.Process]) -> Iterator[list[Pinned]]:
    """A connection to each worker: connections are opened (and kept, so that one idle worker does not take them
    all) until every worker holds one."""
    opened: list[Pinned] = []
    try:
        while {p.worker for p in opened} != {w.pid for w in workers}:
            assert len(opened) < 200, "the workers never all accepted a connection"
            opened.append(Pinned(port, workers))
        yield [next(p for p in opened if p.worker == w.pid) for w in workers]
    finally:
        for pinned in opened:
            pinned.connection.close()


class Service:
    """`crisis <name> --workers N` as a child process, and its workers once they have all started."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, nats_port: int) -> None:
        self.process, self.port, self.nats_port = process, port, nats_port
        self.workers: list[psutil.Process] = []

    async def wait_started(self) -> None:
        """Every worker connects to NATS as it starts (its lifespan), then accepts connections."""

        async def started() -> list[psutil.Process]:
            assert self.process.poll() is None, f"the service exited with code {self.process.returncode}"
            children = psutil.Process(self.process.pid).children()
            return [c for c in children if self.nats_port in _peer_ports(c)]

        self.workers = await wait_until(started, lambda ws: len(ws) == WORKERS, within=60, what="every worker")


@contextmanager
def crisis_service(name: str, settings: Settings, tmp_path: Path, **env: str) -> Iterator[Service]:
    """The command started; its workers are known once `wait_started` returns."""
    port = free_port(HOST)
    environment = (
        os.environ
        | {
            "CRISIS_NATS_URL": settings.nats_url or "",
            "CRISIS_DATABASE_URL": settings.database_url or "",
            "CRISIS_API_TOKENS": f"tester:{TOKEN}",
            "CRISIS_EVENT_ID_SECRET": EVENT_ID_SECRET.get_secret_value(),
            "CRISIS_DATA_DIR": str(tmp_path),
            "CRISIS_HOST": HOST,
            f"CRISIS_{name.upper()}_PORT": str(port),
            "CRISIS_LOG_LEVEL": "WARNING",
        }
        | env
    )
    argv = [sys.executable, "-m", "services", name, "--workers", str(WORKERS)]
    process = subprocess.Popen(argv, env=environment, stdin=subprocess.DEVNULL)
    try:
        yield Service(process, port, urlsplit(settings.nats_url).port or 4222)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def metric(text: bytes, name: str) -> float:
    """The sum of every sample of `name` in a Prometheus exposition."""
    lines = text.decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith((name + "{", name + " ")))


async def test_each_worker_stores_what_it_accepts_and_metrics_add_up(
    settings: Settings, nc: Client, stream: None, tmp_path: Path
) -> None:
    with crisis_service("ingest", settings, tmp_path) as ingest:
        await ingest.wait_started()

        def post_on_each() -> tuple[list[tuple[int, dict[str, Any]]], bytes]:
            with one_per_worker(ingest.port, ingest.workers) as pinned:
                answers = []
                for per_worker in pinned:
                    for _ in range(3):
                        answer = per_worker.request("POST", "/v1/events", incident_opened(incident_id()))
                        answers.append((answer.status, json.loads(answer.body)))
                return answers, pinned[0].request("GET", "/metrics").body

        answers, metrics = await asyncio.to_thread(post_on_each)
    assert [status for status, _ in answers] == [202] * 6
    js = nc.jetstream()
    for _, accepted in answers:
        stored = await js.get_msg(STREAM_NAME, accepted["seq"])
        assert json.loads(stored.data or b"")["event_id"] == accepted["event_id"]
    # Scraped from one worker, counting the other's requests too.
    assert metric(metrics, "crisis_ingest_events_accepted_total") == 6
    assert metric(metrics, "crisis_http_requests_total") >= 6 + WORKERS  # and a /healthz per pinned connection


async def test_the_rate_limit_is_the_configured_one_across_workers(
    settings: Settings, stream: None, tmp_path: Path
) -> None:
    with crisis_service("ingest", settings, tmp_path, CRISIS_WRITE_RATE_LIMIT="10/hour") as ingest:
        await ingest.wait_started()

        def post_until_refused() -> list[int]:
            with one_per_worker(ingest.port, ingest.workers) as pinned:
                return [
                    per_worker.request("POST", "/v1/events", incident_opened(incident_id())).status
                    for per_worker in pinned
                    for _ in range(10)
                ]

        statuses = await asyncio.to_thread(post_until_refused)
    # Each worker allows its share, 5 of the 10 an hour: together, exactly the configured 10.
    assert statuses.count(202) == 10
    assert statuses.count(429) == 10


async def test_each_query_worker_answers_a_read_your_writes_read_once_the_projector_commits(
    settings: Settings, nc: Client, stream: None, tmp_path: Path
) -> None:
    [seq] = await publish(nc, [make_event(incident_id())])
    with crisis_service("query", settings, tmp_path) as query:
        await query.wait_started()
        with one_per_worker(query.port, query.workers) as pinned:
            path = f"/v1/incidents?limit=1&min_position={seq}"
            reads = asyncio.gather(*(asyncio.to_thread(p.request, "GET", path) for p in pinned))
            assert settings.database_url is not None
            await project(settings.database_url, nc, seq)
            answers = await reads
    # Each worker's own wait (its own LISTEN and stream end) saw the commit: none answered stale.
    assert [a.status for a in answers] == [200] * WORKERS
    assert all(int(a.headers["x-position"]) >= seq and "x-stale" not in a.headers for a in answers)


BURST = 64


async def test_each_worker_listens_on_its_own_socket_and_a_burst_of_connections_reaches_every_worker(
    settings: Settings, stream: None, tmp_path: Path
) -> None:
    with crisis_service("ingest", settings, tmp_path) as ingest:
        await ingest.wait_started()
        listening = [_listening_on(w, ingest.port) for w in ingest.workers]
        opened = await asyncio.gather(*(asyncio.open_connection(HOST, ingest.port) for _ in range(BURST)))
        try:
            ours = {writer.get_extra_info("sockname")[1] for _, writer in opened}

            async def held() -> list[int]:
                return [len(_peer_ports(w) & ours) for w in ingest.workers]

            per_worker = await wait_until(held, lambda counts: sum(counts) == BURST, what="every connection accepted")
        finally:
            for _, writer in opened:
                writer.close()
    assert all(len(sockets) == 1 for sockets in listening)
    assert len(set.union(*listening)) == WORKERS  # not one socket shared
    # The kernel hashes each connection to a worker's socket: 64 fall 32 +- 4 to each (one standard deviation);
    # fewer than 12 on one worker is five deviations out, about once in 10 million runs.
    assert min(per_worker) >= 12, per_worker


async def test_a_second_service_on_the_port_is_refused(settings: Settings, stream: None, tmp_path: Path) -> None:
    with crisis_service("ingest", settings, tmp_path) as first:
        await first.wait_started()
        with crisis_service("ingest", settings, tmp_path, CRISIS_INGEST_PORT=str(first.port)) as second:
            code = await asyncio.to_thread(second.process.wait, 60)
        assert code == 3  # uvicorn's code for a startup failure
        assert first.process.poll() is None
        assert [len(_listening_on(w, first.port)) for w in first.workers] == [1] * WORKERS


@pytest.mark.parametrize("name", ["ingest", "query"])
async def test_sigterm_stops_every_worker(name: str, settings: Settings, stream: None, tmp_path: Path) -> None:
    with crisis_service(name, settings, tmp_path) as service:
        await service.wait_started()

        def stop() -> tuple[int, list[psutil.Process], bool]:
            """The command's exit code, the workers still alive, whether their metrics directory is left."""
            metrics_dirs = {w.environ()["PROMETHEUS_MULTIPROC_DIR"] for w in service.workers}
            service.process.send_signal(signal.SIGTERM)
            code = service.process.wait(30)
            _, alive = psutil.wait_procs(service.workers, timeout=5)
            return code, alive, any(Path(d).exists() for d in metrics_dirs)

        code, alive, metrics_left = await asyncio.to_thread(stop)
    assert code == 0
    assert alive == []
    assert not metrics_left


async def test_a_worker_that_cannot_start_stops_the_service_with_an_error(settings: Settings, tmp_path: Path) -> None:
    # Ingest refuses to start without an API token: every worker fails, and so must the command.
    with crisis_service("ingest", settings, tmp_path, CRISIS_API_TOKENS="") as ingest:
        code = await asyncio.to_thread(ingest.process.wait, 60)
    assert code == 3  # uvicorn's code for a startup failure, as with one worker
