"""One HTTP service served by several processes on one port: uvicorn's own supervisor (`workers=`).

One Python process spends most of a small request's CPU in uvicorn, Starlette and FastAPI, so it caps a service
near one core; workers are full processes, each with its own NATS and PostgreSQL connections, importing the app
from `app_factory` (spawned, not forked: nothing of this process is shared with them but the environment).

The workers read their settings from the environment as the command did: the command's own options are put there
first (`settings_environment`). Their Prometheus counters go to files in a private temporary directory
(prometheus_client's multiprocess mode), so /metrics, answered by any worker, adds up all of them; the directory
goes when the supervisor stops.

On Linux each worker listens on a socket of its own, all bound to the one port with SO_REUSEPORT, and the kernel
spreads new connections over them. On uvicorn's one shared socket, whichever worker woke first accepted every
connection waiting: a burst of them (a load generator's, a proxy's pool) could land mostly on one worker and keep
it busy while the others idled, for as long as those connections were kept alive. Only sockets of the same user
can join a port this way; and a second service started on the port is still refused, not let in beside this one.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from services.common.http_protocol import JSON_REFUSALS
from services.common.shared_metrics import MULTIPROCESS_DIR_VARIABLE


def serve(app_factory: str, host: str, port: int, workers: int) -> None:
    """Serve `app_factory` ("module:function" returning the app) until SIGINT or SIGTERM, which stop every worker.
    A worker that fails to start (a missing token, say) stops them all, with uvicorn's exit code for it."""
    if workers == 1:  # one process: no supervisor, metrics in memory
        uvicorn.run(app_factory, factory=True, host=host, port=port, http=JSON_REFUSALS, log_config=None)
        return
    with tempfile.TemporaryDirectory(prefix="crisis-metrics-") as metrics_dir:  # mode 0700
        os.environ[MULTIPROCESS_DIR_VARIABLE] = metrics_dir  # read by each worker's prometheus_client at import
        config = uvicorn.Config(
            app_factory, factory=True, host=host, port=port, workers=workers, http=JSON_REFUSALS, log_config=None
        )
        # Elsewhere SO_REUSEPORT does not spread connections (or is missing): uvicorn's one shared socket.
        claim = _claim(host, port) if sys.platform == "linux" else config.bind_socket()
        supervisor = Multiprocess(config, sockets=[claim])
        supervisor.run()
    # Run here rather than by uvicorn.run, which returns normally (exit code 0) when a worker failed to start.
    if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
        sys.exit(STARTUP_FAILURE)


def settings_environment(values: dict[str, object]) -> None:
    """Puts the command's options (those given) into the environment as `CRISIS_` settings, for its workers."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"CRISIS_{name.upper()}"] = str(value)


class _PortClaim(socket.socket):
    """The supervisor's hold on the port: bound, never listening, so no connection waits on it. uvicorn's supervisor
    hands its sockets to each worker it spawns by pickling them; this one arrives as a new socket of the worker's
    own, bound to the same address, on which the worker listens."""

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return _shared_port_socket, (self.family, self.getsockname())


def _shared_port_socket(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
    return _bound_sharing_the_port(socket.socket(family, socket.SOCK_STREAM), address)


def _bound_sharing_the_port(sock: socket.socket, address: tuple[str, int]) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _claim(host: str, port: int) -> _PortClaim:
    """Exits as uvicorn does when the port is taken. Tried first without SO_REUSEPORT, which every socket on the
    port must set to share it: so another service on the port (another `--workers` supervisor among them) makes
    this fail, instead of both taking connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        claim = _PortClaim(family, socket.SOCK_STREAM)
        _bound_sharing_the_port(claim, (host, port))
    except OSError as exc:
        print(f"cannot serve on {host}:{port}: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    return claim
