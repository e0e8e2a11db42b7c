"""What a bench run measures and how hard: the choices of `crisis bench`, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.cli.bench.workload import Mix

# The extra catch-up size when none is given: the smallest of those the catch-up's rate is compared at (10k, 100k,
# 1M). At a thousand events, a batch, the projector's start and its one COMMIT weigh more than its rate.
DEFAULT_CATCH_UP_SIZE = 10_000


class FsyncMode(StrEnum):
    always = "always"  # nats-server fsyncs every message before acknowledging it (`crisis up`'s default)
    relaxed = "relaxed"  # the server's default interval: an ack can precede the disk


@dataclass(frozen=True)
class BenchOptions:
    events: int
    rounds: int
    mix: Mix
    fsync: bool  # the embedded nats-server fsyncs before every ack
    sizes: tuple[int, ...]  # extra catch-up sizes
    incidents: int
    clients: int  # concurrent single-event writers
    readers: int  # concurrent timeline readers
    reads: int  # timeline requests per round, per side
    fresh_per_second: float
    fresh_seconds: float
    external: bool  # the servers of `settings` (a running `crisis up`, CRISIS_ URLs) instead of embedded ones
    stream: str | None = None  # a stream of the bench's own beside the event stream (--stream NAME)
    partitions: int = 1  # above 1: catch-up is also timed with this many projectors over a stream split as many ways
    ingest_workers: int = 1  # processes serving ingest (crisis ingest --workers)
    query_workers: int = 1  # processes serving query (crisis query --workers)

    @property
    def singles(self) -> int:
        return max(2 * self.clients, self.events // 4)
