"""`crisis up` keeps its embedded servers alive: one that dies is restarted, a bounded number of times.

Without it, a nats-server or PostgreSQL that died would leave the services answering 503 forever. Each restart
waits longer than the last (the cause may need a moment to pass: a port, memory, orphaned backends); past the
bound, `crisis up` stops everything with a message saying which server died, and exits non-zero.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog

from services.common.child_server import ChildServer

log = structlog.get_logger(__name__)

FIRST_BACKOFF_S = 0.5


class ServerLost(RuntimeError):
    pass


class Watchdog:
    def __init__(self, servers: Sequence[ChildServer], max_restarts: int, stop: threading.Event) -> None:
        self.servers = servers
        self.max_restarts = max_restarts
        self._stop = stop
        self.restarts = dict.fromkeys(range(len(servers)), 0)

    def check(self) -> None:
        """Restart every server that is not running; ServerLost once one has used up its restarts."""
        for index, server in enumerate(self.servers):
            while not server.running and not self._stop.is_set():
                code = server.exit_code
                if self.restarts[index] >= self.max_restarts:
                    raise ServerLost(
                        f"the embedded {server.label} stopped (exit code {code}) and was already restarted "
                        f"{self.restarts[index]} time(s); stopping everything"
                    )
                self.restarts[index] += 1
                backoff = FIRST_BACKOFF_S * 2 ** (self.restarts[index] - 1)
                log.error("embedded server died; restarting it", server=server.label, code=code, backoff_s=backoff)
                if self._stop.wait(backoff):
                    return
                try:
                    server.restart()
                except RuntimeError as exc:
                    log.error("embedded server did not restart", server=server.label, error=str(exc))
