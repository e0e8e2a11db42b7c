"""The bench's HTTP retries: every request it makes may be sent again, so a dropped connection is retried.

On a saturated 2-core machine the services' uvicorn was seen closing a kept-alive connection without answering
the request just sent on it (likely its keep-alive timer firing before it read the request). A reader retries a
GET; a write is safe to retry because every event carries its id, which ingest turns into the stream's
deduplication key. Retries are counted and reported, so they cannot hide.
"""

from __future__ import annotations

from dataclasses import dataclass

TIMEOUT_S = 60.0
ATTEMPTS = 3  # dropped twice in a row was seen, under load 8 on 2 cores


@dataclass
class Retries:
    count: int = 0
