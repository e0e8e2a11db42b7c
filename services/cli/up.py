"""`crisis up`: the whole system on one machine, and a clean stop of all of it.

Embedded nats-server and PostgreSQL start unless CRISIS_NATS_URL / CRISIS_DATABASE_URL are set; the three
services run as child processes (as they would in production, each its own `crisis <service>`), in their own
process groups, so that Ctrl-C or SIGTERM reaches only this supervisor, which stops them in order: services first,
then the servers they depend on. It restarts an embedded server that dies (services/cli/watchdog.py).

Locked down against other users of the host (SECURITY.md): the data dir is 0700 and every file written in it 0600;
the embedded servers require passwords generated per data dir (kept in `<data-dir>/credentials/`); each service
logs in as its own user with only the rights its job needs; the operator's credentials are in servers.json.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx
import structlog

from services.cli.watchdog import ServerLost, Watchdog
from services.common.auth import ALL_SCOPES, new_token, parse_tokens
from services.common.child_server import ChildServer
from services.common.credentials import private_dir, write_private
from services.common.discovery import TOKEN_FILE, Servers, remove_servers, write_servers
from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.kept_secret import kept_secret
from services.common.nats_users import USERS
from services.common.ports import port_is_open
from services.common.service_roles import SERVICE_ROLES, ensure_login
from services.common.settings import Settings
from services.demo.loader import load_scenario
from services.projector.migrate import migrate

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The seed article, and a fictional disaster that shows the model is not shaped to one crisis.
DEMO_SCENARIOS = ("kg-2020-election", "xa-2021-valley-flood")
SERVICES = ("projector", "query", "ingest")
CREDENTIALS_DIR = "credentials"
EVENT_ID_SECRET_FILE = "event-id-secret"


class StackError(RuntimeError):
    pass


class Stack:
    def __init__(self, settings: Settings, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.data_dir = settings.data_dir.expanduser().resolve()
        self._stop = threading.Event()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._embedded: list[ChildServer] = []
        # What each service connects as, beyond the common environment: its own users on embedded servers.
        self._service_env: dict[str, dict[str, str]] = {service: {} for service in SERVICES}

    def run(self) -> int:
        os.umask(0o077)  # whatever this process and its children write is for this user's eyes only
        private_dir(self.data_dir)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            with ExitStack() as cleanup:
                cleanup.enter_context(self._exclusive(self.data_dir / "up.lock"))
                self._check_ports_free()
                nats_url = self.settings.nats_url or self._embedded_nats(cleanup)
                database_url = self.settings.database_url or self._embedded_postgres(cleanup)
                token, tokens_spec = self._api_token()
                cleanup.callback(self._stop_children)
                env = self._child_env(nats_url, database_url, tokens_spec)
                for service in SERVICES:
                    self._children[service] = self._spawn(service, env | self._service_env[service])
                servers = Servers(
                    nats_url=nats_url,
                    database_url=database_url,
                    ingest_url=self._url(self.settings.ingest_port),
                    query_url=self._url(self.settings.query_port),
                    projector_url=self._url(self.settings.projector_port),
                    pid=os.getpid(),
                )
                self._wait_ready(servers)
                write_servers(self.data_dir, servers)
                cleanup.callback(remove_servers, self.data_dir)
                if self.demo:
                    self._load_demo(servers, token)
                self._print_banner(servers, token)
                return self._supervise()
        except (StackError, ServerLost) as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1

    def _credential(self, name: str) -> str:
        return kept_secret(private_dir(self.data_dir / CREDENTIALS_DIR) / name)

    def _embedded_nats(self, cleanup: ExitStack) -> str:
        """Start nats-server with a user per service; the operator's URL (for servers.json) carries its password."""
        passwords = {user: self._credential(f"nats-{user}") for user in USERS}
        server = cleanup.enter_context(EmbeddedNats(self.data_dir / "nats", passwords=passwords))
        self._embedded.append(server)
        for service in SERVICES:
            self._service_env[service] |= {
                "CRISIS_NATS_URL": server.url,
                "CRISIS_NATS_USER": service,
                "CRISIS_NATS_PASSWORD": passwords[service],
            }
        return server.url.replace("nats://", f"nats://operator:{passwords['operator']}@", 1)

    def _embedded_postgres(self, cleanup: ExitStack) -> str:
        """Start PostgreSQL, migrate it as the owner, and give the projector and query their own login users."""
        password_file = private_dir(self.data_dir / CREDENTIALS_DIR) / "postgres-superuser"
        server = cleanup.enter_context(EmbeddedPostgres(self.data_dir / "postgres", password_file=password_file))
        self._embedded.append(server)
        migrate(server.url)
        for service, role in SERVICE_ROLES.items():
            password = self._credential(f"postgres-{service}")
            ensure_login(server.url, role, password)
            self._service_env[service]["CRISIS_DATABASE_URL"] = server.login_url(role.user, password)
        return server.url

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    @contextmanager
    def _exclusive(self, path: Path) -> Iterator[None]:
        """One `crisis up` per data dir: a second one would fight over the embedded servers' files."""
        with path.open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StackError(f"another `crisis up` is running on {self.data_dir}") from exc
            yield

    def _check_ports_free(self) -> None:
        for option, port in (
            ("--ingest-port", self.settings.ingest_port),
            ("--query-port", self.settings.query_port),
            ("--projector-port", self.settings.projector_port),
        ):
            if port_is_open(port, self.settings.host):
                raise StackError(f"port {port} on {self.settings.host} is in use: choose another with {option}")

    def _api_token(self) -> tuple[str, str]:
        """The token to print and write to <data-dir>/api-token, and the CRISIS_API_TOKENS spec to run with."""
        token_file = self.data_dir / TOKEN_FILE
        if self.settings.api_tokens is not None:
            spec = self.settings.api_tokens.get_secret_value()
            parse_tokens(spec)  # fail here, clearly, rather than in a child
            token = spec.split(",")[0].split(":")[1].strip()
        else:
            token = token_file.read_text().strip() if token_file.exists() else new_token()
            spec = f"operator:{token}:{'+'.join(sorted(ALL_SCOPES))}"  # the operator may do everything
        write_private(token_file, token + "\n")
        return token, spec

    def _child_env(self, nats_url: str, database_url: str, tokens_spec: str) -> dict[str, str]:
        """What every service gets. On embedded servers each service's own URL and credentials (_service_env)
        replace the operator's NATS URL, and the database URL is only the projector's and query's own: ingest,
        which never reads the database, gets none."""
        embedded_database = self.settings.database_url is None
        return (
            os.environ
            | {
                "CRISIS_NATS_URL": nats_url,
                "CRISIS_API_TOKENS": tokens_spec,
                "CRISIS_EVENT_ID_SECRET": self._event_id_secret(),
                "CRISIS_DATA_DIR": str(self.data_dir),
                "CRISIS_HOST": self.settings.host,
                "CRISIS_INGEST_PORT": str(self.settings.ingest_port),
                "CRISIS_QUERY_PORT": str(self.settings.query_port),
                "CRISIS_PROJECTOR_PORT": str(self.settings.projector_port),
            }
            | ({} if embedded_database else {"CRISIS_DATABASE_URL": database_url})
        )

    def _event_id_secret(self) -> str:
        """Ingest's key for derived event ids: the configured one, else one kept in the data dir across restarts."""
        if self.settings.event_id_secret is not None:
            return self.settings.event_id_secret.get_secret_value()
        return kept_secret(self.data_dir / EVENT_ID_SECRET_FILE)

    def _spawn(self, service: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "services", service], env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def _url(self, port: int) -> str:
        return f"http://{self.settings.host}:{port}"

    def _wait_ready(self, servers: Servers) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for name, url in (
            ("projector", servers.projector_url),
            ("query", servers.query_url),
            ("ingest", servers.ingest_url),
        ):
            while not _answers(f"{url}/readyz"):
                if self._children[name].poll() is not None:
                    raise StackError(f"the {name} service exited with code {self._children[name].returncode}")
                if self._stop.is_set():
                    raise StackError("interrupted while starting")
                if time.monotonic() > deadline:
                    raise StackError(f"the {name} service was not ready within {READY_TIMEOUT_S:.0f}s")
                time.sleep(0.1)

    def _load_demo(self, servers: Servers, token: str) -> None:
        for scenario in DEMO_SCENARIOS:
            posted = load_scenario(scenario, servers.ingest_url, servers.query_url, token)
            if posted:
                print(f"demo: posted {posted} events of the {scenario} scenario; they are projected", flush=True)
            else:
                print(f"demo: the {scenario} scenario is already loaded", flush=True)

    def _print_banner(self, servers: Servers, token: str) -> None:
        print(
            "\ncrisis is up\n"
            f"  ingest     {servers.ingest_url}   (POST /v1/events, docs at /docs)\n"
            f"  query      {servers.query_url}   (GET /v1/incidents, docs at /docs)\n"
            f"  projector  {servers.projector_url}   (/readyz, /metrics)\n"
            f"  NATS       {_without_credentials(servers.nats_url)}\n"
            f"  PostgreSQL {_without_credentials(servers.database_url)}\n"
            f"  API token  {token}   (also in {self.data_dir / TOKEN_FILE})\n"
            f"  writes     {self.settings.write_rate_limit} per token (raise CRISIS_WRITE_RATE_LIMIT to load-test)\n"
            f"  operators' credentials in {self.data_dir / 'servers.json'}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )

    def _supervise(self) -> int:
        watchdog = Watchdog(self._embedded, self.settings.server_restarts, self._stop)
        while not self._stop.wait(0.5):
            watchdog.check()
            for name, child in self._children.items():
                if child.poll() is not None:
                    log.error("service exited; stopping everything", service=name, code=child.returncode)
                    return 1
        print("stopping...", flush=True)
        return 0

    def _stop_children(self) -> None:
        for child in self._children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self._children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # the whole group: a service's workers would outlive their supervisor
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _without_credentials(url: str) -> str:
    """`url` without its user's password, to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}").geturl()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
