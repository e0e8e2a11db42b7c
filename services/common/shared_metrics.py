"""/metrics of a service, whether one process serves it or several (prometheus_client's multiprocess mode).

With several workers, prometheus_client (reading PROMETHEUS_MULTIPROC_DIR when it is imported) writes every
counter to a file per process in that directory; the exposition then sums the files of all of them, so a scrape
answered by any worker counts what every worker did. The per-process collectors (process_*, python_gc_*) are left
out in that mode: their figures would describe only the worker that answered.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, generate_latest, multiprocess

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """The Prometheus text of this service: its own process's metrics, or the sum over its workers."""
    if MULTIPROCESS_DIR_VARIABLE not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
