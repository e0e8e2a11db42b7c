"""What the embedded servers share: a child process on a loopback port, started and stopped by its owner."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from types import TracebackType
from typing import Self

logger = logging.getLogger(__name__)


class ChildServer:
    """A server we run as a child process; subclasses start it and say how it stops cleanly."""

    label = "server"  # for messages: "nats-server", "PostgreSQL"

    def __init__(self, port: int | None) -> None:
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"the embedded {self.label} has not been started")
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> str:
        raise NotImplementedError

    def restart(self) -> str:
        """Start again after the server died. What it left in its process group goes first: a PostgreSQL backend
        outliving its postmaster would keep the next one from starting."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return self.start()

    def stop(self) -> None:
        raise NotImplementedError

    def _stop_child(self, clean: signal.Signals, timeout_s: float, kill_group: bool = False) -> None:
        """Send `clean`, wait, then SIGKILL (the whole process group with `kill_group`); a no-op when not running."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(clean)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("%s pid %d ignored %s, killing it", self.label, proc.pid, clean.name)
                if kill_group:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
                proc.wait()
        logger.info("embedded %s pid %d stopped (code %s)", self.label, proc.pid, proc.returncode)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
