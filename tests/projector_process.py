"""The projector as its own process (`python -m services projector`), to SIGKILL it as an outage would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from services.common.ports import free_port
from services.common.settings import Settings


class ProjectorProcess:
    def __init__(self, settings: Settings, log_dir: Path, **extra_env: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.settings, self.log_dir, self.extra_env = settings, log_dir, extra_env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, **env: str) -> None:
        self.starts += 1
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")} | {
            "CRISIS_NATS_URL": self.settings.nats_url or "",
            "CRISIS_DATABASE_URL": self.settings.database_url or "",
            "CRISIS_STREAM_PROTECTED": str(self.settings.stream_protected).lower(),  # as the test's own stream is
            "CRISIS_PROJECTOR_PORT": str(free_port()),
            "CRISIS_PROJECTOR_RETRY_DELAY_S": "0.2",
            "CRISIS_PROJECTOR_BATCH_WAIT_S": "0.02",
            "CRISIS_LOG_LEVEL": "WARNING",
            "CRISIS_LOG_FORMAT": "json",
            **self.extra_env,
            **env,
        }
        with (self.log_dir / f"projector-{self.starts}.log").open("wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services", "projector"], env=environment, stdout=log, stderr=subprocess.STDOUT
            )

    def exit_code(self) -> int | None:
        assert self.process is not None
        return self.process.poll()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def __enter__(self) -> ProjectorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        """Never leave a process behind, whatever the test did."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
