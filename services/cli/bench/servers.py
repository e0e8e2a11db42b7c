"""What a bench runs against: the servers (embedded in a scratch dir, or given), a fresh database per round,
and the services as child processes, started and stopped as `crisis up` would.

Given servers are used only when their event stream is empty and unwatched: the bench posts events, purges the
stream between rounds, and its projector would share durable consumers with a running one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from psycopg.conninfo import make_conninfo

from services.cli.bench.constant_app import BODY_FILE_VARIABLE
from services.cli.bench.errors import BenchFailed, BenchRefused
from services.common.auth import ALL_SCOPES, new_token
from services.common.eventstream import EventStream
from services.common.ports import free_port
from services.projector.migrate import migrate

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
UNLIMITED_WRITES = "1000000000/second"  # the bench measures throughput, not the per-token rate limit


async def refuse_busy_stream(js: JetStreamContext, stream: EventStream) -> bool:
    """Refuses a stream that holds events, has consumers or other subjects; True when it exists (empty)."""
    try:
        info = await js.stream_info(stream.name)
    except NotFoundError:
        return False
    if info.state.messages:
        raise BenchRefused(
            f"stream {stream.name} already holds {info.state.messages} events: the bench posts, purges and replays "
            "its own; run it on its own embedded servers (no --data-dir, no CRISIS_NATS_URL), or give it a stream "
            "of its own with --stream NAME"
        )
    if info.state.consumer_count:
        raise BenchRefused(
            f"stream {stream.name} has {info.state.consumer_count} consumer(s), so a projector or subscriber "
            "watches it: stop them, run the bench on its own embedded servers, or give it --stream NAME"
        )
    if list(info.config.subjects or ()) != [stream.stored_subjects]:
        raise BenchRefused(f"stream {stream.name} exists with other subjects ({info.config.subjects}): not the bench's")
    return True


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, migrated database on the server of `server_url`, dropped afterwards."""
    name = f"crisis_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server_url, dbname=name)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def api_token() -> tuple[str, str]:
    """A token for this run, and the CRISIS_API_TOKENS entry granting it every scope."""
    token = new_token()
    return token, f"bench:{token}:{'+'.join(sorted(ALL_SCOPES))}"


class Child:
    """One child process serving HTTP on a port of its own; its output goes to a log file in the work dir."""

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path, port: int, workers: int = 1
    ) -> None:
        self.name, self.port, self.workers = name, port, workers
        self.url = f"http://{HOST}:{port}"
        with (log_dir / f"{name}.log").open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    async def ready(self, path: str = "/readyz", poll_s: float = 0.05) -> None:
        """Until `path` answers 200 and, with several worker processes, every one of them serves: the first worker's
        answer says nothing of the others, and a round must not begin while one still loads. Asked every `poll_s`:
        a timing that starts at this answer starts at most that late."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise BenchFailed(f"{self.name} exited with code {self.process.returncode}: see {self.name}.log")
                try:
                    answered = (await client.get(self.url + path)).status_code == 200
                except httpx.HTTPError:
                    answered = False
                if answered and (self.workers == 1 or serving_workers(self.process.pid, self.port) >= self.workers):
                    return
                if time.monotonic() > deadline:
                    raise BenchFailed(f"{self.name} not ready within {READY_TIMEOUT_S:.0f}s: see {self.name}.log")
                await asyncio.sleep(poll_s)

    def peak_rss_mb(self) -> float | None:
        """The process's high-water mark of resident memory (Linux: VmHWM), while it still runs."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        kilobytes = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
        return kilobytes / 1024 if kilobytes is not None else None

    def cpu_seconds(self) -> float | None:
        """CPU time the process and its running workers have used so far, user and system (Linux: /proc), while it
        still runs."""
        try:
            return sum(_cpu_seconds(pid) for pid in [self.process.pid, *_children(self.process.pid)])
        except OSError:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def serving_workers(supervisor: int, port: int) -> int:
    """How many worker processes of `supervisor` accept connections on `port` (Linux: /proc).

    The workers share the supervisor's listening socket, and a uvicorn worker watches it in its event loop (epoll)
    only once its app has started, so a worker still loading takes no connection and is not counted."""
    listening = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    serving = 0
    for pid in _children(supervisor):
        try:
            fds = {fd.name for fd in Path(f"/proc/{pid}/fd").iterdir() if _link(fd) in listening}
            watched = {
                line.split()[1]
                for info in Path(f"/proc/{pid}/fdinfo").iterdir()
                for line in _text(info).splitlines()
                if line.startswith("tfd:")  # a file descriptor an epoll instance watches
            }
        except OSError:  # the worker exited meanwhile
            continue
        serving += bool(fds & watched)
    return serving


def _listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on `port` (state 0A), from /proc/net/tcp and tcp6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in _text(Path(table)).splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # closed meanwhile, or no IPv6
        return ""


def _children(pid: int) -> list[int]:
    """The processes `pid` started that still run (a service's workers)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@contextmanager
def service(
    name: str,
    nats_url: str,
    stream: EventStream,
    database_url: str,
    tokens: str,
    log_dir: Path,
    partition: int = 0,
    workers: int = 1,
) -> Iterator[Child]:
    """`crisis <name>` (ingest, projector or query) against the bench's servers and event stream, served by
    `workers` processes (ingest and query); a projector feeds `partition` of it."""
    port = free_port(HOST)
    env = os.environ | {
        "CRISIS_NATS_URL": nats_url,
        "CRISIS_STREAM_NAME": stream.name,
        "CRISIS_SUBJECT_PREFIX": stream.prefix,
        "CRISIS_STREAM_PARTITIONS": str(stream.partitions),
        "CRISIS_PROJECTOR_PARTITION": str(partition),
        "CRISIS_DATABASE_URL": database_url,
        "CRISIS_API_TOKENS": tokens,
        "CRISIS_DATA_DIR": str(log_dir),
        "CRISIS_HOST": HOST,
        f"CRISIS_{name.upper()}_PORT": str(port),
        "CRISIS_WRITE_RATE_LIMIT": UNLIMITED_WRITES,
        "CRISIS_EVENT_ID_SECRET": secrets.token_urlsafe(32),  # ingest refuses to start without one
        "CRISIS_STREAM_PROTECTED": "false",  # the bench purges its stream between rounds
        "CRISIS_LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "services", name, *(["--workers", str(workers)] if workers > 1 else [])]
    child = Child(f"{name}-{partition}" if partition else name, argv, env, log_dir, port, workers)
    try:
        yield child
    finally:
        child.stop()


@contextmanager
def constant_server(body: bytes, log_dir: Path) -> Iterator[Child]:
    """The constant-body app on uvicorn, as the query service is served."""
    body_file = log_dir / "constant-body.json"
    body_file.write_bytes(body)
    port = free_port(HOST)
    argv = [sys.executable, "-m", "uvicorn", "--factory", "services.cli.bench.constant_app:create_app",
            "--host", HOST, "--port", str(port), "--log-level", "warning"]  # fmt: skip
    child = Child("constant", argv, os.environ | {BODY_FILE_VARIABLE: str(body_file)}, log_dir, port)
    try:
        yield child
    finally:
        child.stop()
