"""The embedded nats-server and PostgreSQL: real processes on free ports, durable across restarts.

Each test starts its own servers in its own temporary directory (the session-wide ones in conftest are
not used: these tests stop and restart servers) and stops them at the end, pass or fail.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest

from services.common.embedded_nats import EmbeddedNats, find_nats_server, nats_server_version
from services.common.embedded_postgres import SYSTEM_USER, EmbeddedPostgres
from services.common.ports import RESERVED_PORTS, free_port, port_is_open

STREAM = "EMBEDDED_TEST"
SUBJECT = "embedded.test"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def nats_dir(tmp_path: Path) -> Path:
    return tmp_path / "nats"


@pytest.fixture
def nats_server(nats_dir: Path) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(nats_dir) as server:
        yield server


@pytest.fixture
def pg_dir(tmp_path: Path) -> Path:
    return tmp_path / "pg"


@pytest.fixture
def pg_server(pg_dir: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(pg_dir) as server:
        yield server


def test_free_port_never_returns_the_system_ports() -> None:
    ports = {free_port() for _ in range(200)}
    assert not ports & RESERVED_PORTS


def test_the_venv_nats_server_is_recent() -> None:
    binary = find_nats_server()
    assert binary.parent == Path(sys.executable).parent
    assert nats_server_version(binary) >= (2, 11, 0)


async def test_nats_jetstream_round_trip(nats_server: EmbeddedNats) -> None:
    assert nats_server.port not in RESERVED_PORTS
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    nc = await nats.connect(nats_server.url)
    try:
        version = nc.connected_server_version
        assert (version.major, version.minor) >= (2, 11)
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=[SUBJECT])
        ack = await js.publish(SUBJECT, b"hello")
        assert ack.seq == 1
        msg = await js.get_msg(STREAM, 1)
        assert msg.data == b"hello"
    finally:
        await nc.close()


async def test_nats_stop_ends_the_process_and_the_stream_survives_a_restart(nats_dir: Path) -> None:
    first = EmbeddedNats(nats_dir)
    try:
        first.start()
        pid = first.pid
        assert pid is not None and pid_alive(pid)
        nc = await nats.connect(first.url)
        try:
            js = nc.jetstream()
            await js.add_stream(name=STREAM, subjects=[SUBJECT])
            await js.publish(SUBJECT, b"durable")
        finally:
            await nc.close()
    finally:
        first.stop()
    assert first.pid is None
    assert not pid_alive(pid)
    assert not port_is_open(first.port)
    first.stop()  # idempotent

    with EmbeddedNats(nats_dir) as second:
        nc = await nats.connect(second.url)
        try:
            msg = await nc.jetstream().get_msg(STREAM, 1)
            assert msg.data == b"durable"
        finally:
            await nc.close()


async def test_nats_acknowledged_messages_survive_a_kill(nats_dir: Path) -> None:
    with EmbeddedNats(nats_dir) as first:
        nc = await nats.connect(first.url)
        try:
            js = nc.jetstream()
            await js.add_stream(name=STREAM, subjects=[SUBJECT])
            await js.publish(SUBJECT, b"acked")
        finally:
            await nc.close()
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
    # stop() (by the with block) coped with a server that was already dead.

    with EmbeddedNats(nats_dir) as second:
        nc = await nats.connect(second.url)
        try:
            msg = await nc.jetstream().get_msg(STREAM, 1)
            assert msg.data == b"acked"
        finally:
            await nc.close()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on (and accepts connections, without ever answering)."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        yield blocker.getsockname()[1]


def test_nats_on_a_taken_port_fails_with_its_log(nats_dir: Path, taken_port: int) -> None:
    # The port is open, but not ours: start() must see its server die, not return someone else's URL.
    server = EmbeddedNats(nats_dir, port=taken_port)
    with pytest.raises(RuntimeError, match=r"(?s)exited with code.*address already in use"):
        server.start()
    assert server.pid is None


def test_postgres_on_a_taken_port_fails_with_its_log(pg_dir: Path, taken_port: int) -> None:
    server = EmbeddedPostgres(pg_dir, port=taken_port)
    with pytest.raises(RuntimeError, match=r"(?s)exited with code.*Address already in use"):
        server.start()
    assert server.pid is None


def test_postgres_runs_sql(pg_server: EmbeddedPostgres) -> None:
    assert pg_server.port not in RESERVED_PORTS
    password = pg_server.password_file.read_text().strip()
    assert pg_server.url == f"postgresql://postgres:{password}@127.0.0.1:{pg_server.port}/crisis"
    with psycopg.connect(pg_server.url) as conn:
        row = conn.execute("SELECT current_database(), current_setting('max_connections')").fetchone()
    assert row == ("crisis", "200")


def test_postgres_flushes_the_wal_often_checkpoints_seldom_and_stays_durable(pg_server: EmbeddedPostgres) -> None:
    """The WAL writer flushes often, so a COMMIT waits for less of its WAL, and checkpoints are spaced out, so fewer
    whole pages go to the WAL; every COMMIT still waits for its own WAL, and torn pages are still covered."""
    names = (
        "wal_writer_delay",
        "checkpoint_timeout",
        "max_wal_size",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
    )
    with psycopg.connect(pg_server.url) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)", (list(names),)
            ).fetchall()
        )
    assert settings == {
        "wal_writer_delay": "10ms",
        "checkpoint_timeout": "900s",
        "max_wal_size": "4096MB",
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
    }


def refused(url: str) -> str:
    with pytest.raises(psycopg.OperationalError) as refusal:
        psycopg.connect(url, connect_timeout=5).close()
    return str(refusal.value)


def test_postgres_refuses_every_connection_without_the_password(pg_server: EmbeddedPostgres) -> None:
    """Another user of the host, who may reach the loopback port, gets nothing: no trust, over TCP or the socket."""
    assert stat.S_IMODE(pg_server.password_file.stat().st_mode) == 0o600
    tcp = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    assert "no password supplied" in refused(tcp)
    assert "password authentication failed" in refused(tcp.replace("postgres@", "postgres:guessed@"))
    socket_dir = pg_server.data_dir
    assert "no password supplied" in refused(f"postgresql://postgres@/postgres?host={socket_dir}&port={pg_server.port}")
    assert pg_server.login_url("postgres", "x").startswith("postgresql://postgres:x@127.0.0.1:")


def test_a_data_dir_that_trusted_local_users_is_locked_down(pg_dir: Path) -> None:
    """A data dir from before passwords (trust in pg_hba.conf, no password kept) gets one at its next start."""
    with EmbeddedPostgres(pg_dir) as first:
        port = first.port
    first.password_file.unlink()
    (pg_dir / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\nlocal all all trust\n")
    with EmbeddedPostgres(pg_dir, port=port) as second, psycopg.connect(second.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert "no password supplied" in refused(f"postgresql://postgres@127.0.0.1:{port}/postgres")


def test_postgres_data_survives_a_restart(pg_dir: Path) -> None:
    with EmbeddedPostgres(pg_dir) as first:
        with psycopg.connect(first.url) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        pid = first.pid
    assert pid is not None and not pid_alive(pid)
    assert not port_is_open(first.port)
    first.stop()  # idempotent

    with EmbeddedPostgres(pg_dir) as second, psycopg.connect(second.url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]


def test_postgres_recovers_after_a_kill(pg_dir: Path) -> None:
    with EmbeddedPostgres(pg_dir) as first:
        with psycopg.connect(first.url) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('committed')")
        assert first.pid is not None
        # The whole process group, as a container kill would: no orphaned backend holds the shared memory.
        os.killpg(first.pid, signal.SIGKILL)
    assert (pg_dir / "postmaster.pid").exists()

    with EmbeddedPostgres(pg_dir) as second, psycopg.connect(second.url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("committed",)]


def test_postgres_admin_url_reaches_other_databases(pg_server: EmbeddedPostgres) -> None:
    with psycopg.connect(pg_server.admin_url(), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "scratch"')
    with psycopg.connect(pg_server.admin_url("scratch")) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("scratch",)


def test_postgres_removes_a_stale_pid_file_and_survives_a_long_path(tmp_path: Path) -> None:
    # Too long for a unix socket inside the data directory: the socket goes to a short /tmp directory.
    data_dir = tmp_path / ("d" * 60) / ("e" * 60) / "pg"
    with EmbeddedPostgres(data_dir):
        pass
    # A postmaster.pid left by a killed server whose pid now belongs to another program of the same user:
    # PostgreSQL alone would refuse to start ("lock file already exists").
    other = subprocess.Popen(["sleep", "30"], user=SYSTEM_USER if os.geteuid() == 0 else None)
    try:
        (data_dir / "postmaster.pid").write_text(f"{other.pid}\n")
        with EmbeddedPostgres(data_dir) as server, psycopg.connect(server.url) as conn:
            row = conn.execute("SHOW unix_socket_directories").fetchone()
            assert row is not None and row[0].startswith("/tmp/crisis-pg-")
    finally:
        other.kill()
        other.wait()
    assert not list(Path("/tmp").glob(f"crisis-pg-*/.s.PGSQL.{server.port}"))
