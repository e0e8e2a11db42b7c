"""/metrics of a service, whether one process serves it or several (prometheus_client's multiprocess mode).

With several workers, prometheus_client (reading PROMETHEUS_MULTIPROC_DIR when it is imported) writes every
counter to a file per process in that directory; the exposition then sums the files of all of them, so a scrape
answered by any worker counts what every worker did. The per-process collectors (process_*, python_gc_*) are left
out in that mode: their figures would describe only the worker that answered.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import CollectorRegistry, Counter, generate_latest, multiprocess

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """The Prometheus text of this service: its own process's metrics, or the sum over its workers."""
    if MULTIPROCESS_DIR_VARIABLE not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@functools.cache
def counter_child(counter: Counter, *labels: str) -> Counter:
    """`counter.labels(*labels)`, looked up once per process: prometheus_client checks the values and takes a lock
    for every lookup (about 0.8 us; two a single event). The labels here are few: statuses, services, event types."""
    return counter.labels(*labels)
