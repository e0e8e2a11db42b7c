"""Whole answers of the read routes, kept while the read models stay as they were when they were computed.

The read models change only when a transaction that NOTIFYs commits: the projector's checkpoint moves (and timeline
entries), and every operator's write (replay swap-in, purge, dead-letter decisions, migrations) on
READ_MODELS_CHANNEL. So the cache is a handler of the process's Listener on every channel: each notification, and
each start or stop of listening, starts a new generation and drops every answer. An answer computed under an older
generation is never stored (a commit came during its computation), and while the process is not listening
(notifications would be lost) nothing is stored or served.

PostgreSQL delivers a notification a moment after the commit's rows are visible. An answer of this process already
showed a position beyond an entry's means such a commit: the entry is not served until the notification comes.

Bounded by bytes, least recently used first out. Concurrent misses of one key under one generation share the first
one's computation (single flight).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

HITS = Counter("crisis_query_cache_hits_total", "Read answers served from the answer cache")
MISSES = Counter("crisis_query_cache_misses_total", "Cacheable reads the app answered (not in the cache)")
EVICTIONS = Counter("crisis_query_cache_evictions_total", "Answers dropped to keep the cache under its bytes")
BYTES = Gauge("crisis_query_cache_bytes", "Bytes of answers the cache holds", multiprocess_mode="livesum")

MAX_ANSWER_BYTES = 1024 * 1024  # a larger answer is not stored: one would push out hundreds of pages
HEADERS_BYTES = 256  # what an entry's headers and bookkeeping hold besides its body, roughly


@dataclass(frozen=True)
class Answer:
    """A 200 JSON answer as the app sent it (raw ASGI headers), with its strong ETag and its X-Position."""

    headers: list[tuple[bytes, bytes]]
    body: bytes
    position: int
    etag: bytes = field(init=False)

    def __post_init__(self) -> None:
        etag = b'"' + hashlib.blake2b(self.body, digest_size=16).hexdigest().encode() + b'"'
        object.__setattr__(self, "etag", etag)
        self.headers.append((b"etag", etag))

    @property
    def size(self) -> int:
        return len(self.body) + HEADERS_BYTES


Flight = asyncio.Future[Answer | None]


class AnswerCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.generation = 0
        self.listening = False
        self._answers: OrderedDict[bytes, Answer] = OrderedDict()
        self._bytes = 0
        self._highest_position = 0  # the highest X-Position of an answer computed under this generation
        self._flights: dict[tuple[bytes, int], Flight] = {}

    # The Listener's handler protocol, on every channel.
    def on_notify(self, payload: str) -> None:
        self._new_generation()

    def on_listening(self, up: bool) -> None:
        self.listening = up
        self._new_generation()

    def _new_generation(self) -> None:
        self.generation += 1
        self._answers.clear()
        self._bytes = 0
        self._highest_position = 0
        BYTES.set(0)

    def get(self, key: bytes) -> Answer | None:
        answer = self._answers.get(key) if self.listening else None
        if answer is None or answer.position < self._highest_position:
            return None
        self._answers.move_to_end(key)
        return answer

    def put(self, key: bytes, answer: Answer, generation: int) -> None:
        """Keep `answer` if it was computed under the current generation (and is not too large)."""
        if generation != self.generation or not self.listening:
            return
        self._highest_position = max(self._highest_position, answer.position)
        if answer.size > min(MAX_ANSWER_BYTES, self.max_bytes):
            return
        previous = self._answers.pop(key, None)
        if previous is not None:
            self._bytes -= previous.size
        self._answers[key] = answer
        self._bytes += answer.size
        while self._bytes > self.max_bytes:
            _, evicted = self._answers.popitem(last=False)
            self._bytes -= evicted.size
            EVICTIONS.inc()
        BYTES.set(self._bytes)

    def flight(self, key: bytes, generation: int) -> tuple[Flight, bool]:
        """The computation of `key` under `generation` under way, or a new one; True: the caller leads it (computes
        and then `land`s it)."""
        under_way = self._flights.get((key, generation))
        if under_way is not None:
            return under_way, False
        flight: Flight = asyncio.get_running_loop().create_future()
        self._flights[key, generation] = flight
        return flight, True

    def land(self, key: bytes, generation: int, answer: Answer | None) -> None:
        """The leader's result for its waiters: the answer, or None (not cacheable, or failed): they ask the app."""
        flight = self._flights.pop((key, generation))
        if not flight.done():
            flight.set_result(answer)
