"""Free loopback TCP ports for the embedded servers.

The well-known NATS and PostgreSQL ports are never handed out: a system nats-server and PostgreSQL may
listen there, and a test or a dev process must never talk to them by accident.
"""

from __future__ import annotations

import socket

# The defaults of a system NATS (4222) and PostgreSQL (5432).
RESERVED_PORTS = frozenset({4222, 5432})


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` just now (the kernel picks it; someone may still take it)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on `host:port` right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
