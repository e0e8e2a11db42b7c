"""`crisis up` against another user of the same host, and against its own servers dying (issue 10 items 3, 4, 8).

A real `crisis up --demo` in a subprocess: its files, its servers' doors, its services' identities; then its
embedded servers are killed with SIGKILL, and it must bring them back, or stop with a message when it may not.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import nats.errors
import psutil
import psycopg
import psycopg.errors
import pytest
from nats.aio.client import Client

from schemas.subjects import STREAM_NAME
from services.common.embedded_postgres import SYSTEM_USER
from tests.e2e.test_crisis_up import Running, output_path, start, stop

T = TypeVar("T")
RECOVERY_S = 60.0


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], within: float, what: str) -> T:
    """The synchronous twin of tests/waiting.py's wait_until, for a test that drives subprocesses."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {result!r}")
        time.sleep(0.1)


def servers(data_dir: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((data_dir / "servers.json").read_text())
    return found


def server_pid(running: Running, name: str) -> int:
    """The embedded server's own process (PostgreSQL's backends have the postmaster's name, not its parent)."""
    return next(p.pid for p in psutil.Process(running.process.pid).children() if p.name() == name)


def private_modes(data_dir: Path) -> list[str]:
    """Every path under the data dir that another user could read, write or enter (with its mode)."""
    exposed = []
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            mode = stat.S_IMODE(os.lstat(os.path.join(root, name)).st_mode)
            if mode & 0o077:
                exposed.append(f"{os.path.join(root, name)} {mode:o}")
    return exposed


def refused_anonymously(nats_url: str) -> str:
    async def attempt() -> str:
        client = Client()
        try:
            await client.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=0)
        except nats.errors.Error as exc:
            return str(exc)
        finally:
            await client.close()
        return "connected"

    return asyncio.run(attempt())


async def stream_protection(operator_url: str) -> tuple[bool, bool]:
    nc = await nats.connect(operator_url)
    try:
        config = (await nc.jetstream().stream_info(STREAM_NAME)).config
    finally:
        await nc.close()
    return bool(config.deny_purge), bool(config.deny_delete)


def post(running: Running, quote: str) -> httpx.Response:
    report = {
        "type": "StatementIssued", "incident_id": "kg-2020-election", "occurred_at": "2020-10-07T10:00:00+06:00",
        "source": {"name": "Lockdown test", "kind": "media"},
        "data": {"speaker": {"id": "tester", "name": "Tester", "kind": "person"}, "quote": quote},
    }  # fmt: skip
    headers = {"Authorization": f"Bearer {running.token}", "Idempotency-Key": quote}
    try:
        return httpx.post(f"{running.ingest}/v1/events", json=report, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        return httpx.Response(599, text=str(exc))


def projected_position(running: Running) -> int:
    try:
        response = httpx.get(f"{running.query}/v1/incidents/kg-2020-election", timeout=10)
    except httpx.HTTPError:
        return -1
    return int(response.json()["last_position"]) if response.status_code == 200 else -1


def post_and_project(running: Running, quote: str) -> None:
    """A new report is accepted and projected: ingest, NATS, the projector, PostgreSQL and query all work."""
    accepted = wait_for(lambda: post(running, quote), lambda r: r.status_code == 202, RECOVERY_S, "a 202")
    seq = int(accepted.json()["seq"])
    wait_for(lambda: projected_position(running), lambda p: p >= seq, RECOVERY_S, f"position {seq} projected")


def test_crisis_up_is_locked_down_against_other_users(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    running = start(data_dir)
    try:
        # File modes: nothing under the data dir is open to others; the data dir itself admits, as root, only
        # the group of the PostgreSQL system user, which must pass through it.
        assert private_modes(data_dir) == []
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        if os.geteuid() == 0:
            assert (mode, data_dir.stat().st_gid) == (0o710, pwd.getpwnam(SYSTEM_USER).pw_gid)
        else:
            assert mode == 0o700
        operator = servers(data_dir)

        # NATS: no anonymous client; the stream refuses purges and deletes.
        plain_nats = operator["nats_url"].split("@", 1)[1]
        assert "authorization" in refused_anonymously(f"nats://{plain_nats}").lower()
        assert asyncio.run(stream_protection(operator["nats_url"])) == (True, True)

        # PostgreSQL: no password, no entry; the services log in as their own roles, never as the superuser.
        plain_pg = "postgresql://postgres@" + operator["database_url"].split("@", 1)[1]
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(plain_pg, connect_timeout=5).close()
        with psycopg.connect(operator["database_url"]) as conn:
            sessions = conn.execute(
                "SELECT usename FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            users = {row[0] for row in sessions}
        assert users == {"crisis_projector", "crisis_query"}
        query_password = (data_dir / "credentials" / "postgres-query").read_text().strip()
        query_url = f"postgresql://crisis_query:{query_password}@{operator['database_url'].split('@', 1)[1]}"
        with psycopg.connect(query_url) as conn:
            assert conn.execute("SELECT count(*) FROM incidents").fetchone() == (2,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM event_log")

        # Operator commands still find the servers, with the operator's credentials, through the data dir.
        status = subprocess.run(
            [sys.executable, "-m", "services", "status", "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=120, env=os.environ | {"CRISIS_LOG_LEVEL": "WARNING"},
        )  # fmt: skip
        assert status.returncode == 0 and "stream CRISIS_EVENTS" in status.stdout, status.stderr
    finally:
        stop(running)


def test_crisis_up_restarts_servers_killed_with_sigkill(tmp_path: Path) -> None:
    running = start(tmp_path / "data")
    try:
        for server in ("nats-server", "postgres"):
            os.kill(server_pid(running, server), signal.SIGKILL)
            post_and_project(running, f"after {server} was killed")
            assert running.process.poll() is None
    finally:
        running.descendants = psutil.Process(running.process.pid).children(recursive=True)
        stop(running)


def test_crisis_up_stops_with_a_message_when_it_may_not_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    running = start(data_dir, CRISIS_SERVER_RESTARTS="0")
    os.kill(server_pid(running, "postgres"), signal.SIGKILL)
    assert running.process.wait(timeout=RECOVERY_S) == 1
    assert "error: the embedded PostgreSQL stopped" in output_path(data_dir, "stderr").read_text()
    _, alive = psutil.wait_procs(running.descendants, timeout=15)
    assert alive == [], f"processes left behind: {alive}"
