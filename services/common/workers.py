"""One HTTP service served by several processes on one port: uvicorn's own supervisor (`workers=`).

One Python process spends most of a small request's CPU in uvicorn, Starlette and FastAPI, so it caps a service
near one core; workers are full processes, each with its own NATS and PostgreSQL connections, importing the app
from `app_factory` (spawned, not forked: nothing of this process is shared with them but the environment).

The workers read their settings from the environment as the command did: the command's own options are put there
first (`settings_environment`). Their Prometheus counters go to files in a private temporary directory
(prometheus_client's multiprocess mode), so /metrics, answered by any worker, adds up all of them; the directory
goes when the supervisor stops.
"""

from __future__ import annotations

import os
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
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
    # Run here rather than by uvicorn.run, which returns normally (exit code 0) when a worker failed to start.
    if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
        sys.exit(STARTUP_FAILURE)


def settings_environment(values: dict[str, object]) -> None:
    """Puts the command's options (those given) into the environment as `CRISIS_` settings, for its workers."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"CRISIS_{name.upper()}"] = str(value)
