"""The projector's announced progress, for reads waiting for a position (read-your-writes).

The projector NOTIFYs PROGRESS_CHANNEL with each checkpoint it moves, delivered at COMMIT (see the projector's
checkpoints.py). The read models' position is the lowest checkpoint of every read model and partition, which
no single announcement gives: an announcement at or past a waiting read's position only tells it to read the
position again (the truth is the checkpoints table).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class ProjectorProgress:
    """A handler of the process's Listener, on PROGRESS_CHANNEL."""

    def __init__(self) -> None:
        self.listening = False  # False: announcements may be missed, a waiting read must poll
        self._waiting: dict[asyncio.Event, int] = {}  # each waiting read's wake-up, and the position it wants

    @contextlib.contextmanager
    def watch(self, wanted: int) -> Iterator[asyncio.Event]:
        """An event set when a checkpoint at or past `wanted` is announced, and when listening starts or stops."""
        wakeup = asyncio.Event()
        self._waiting[wakeup] = wanted
        try:
            yield wakeup
        finally:
            del self._waiting[wakeup]

    def on_notify(self, payload: str) -> None:
        checkpoint = int(payload)
        for wakeup, wanted in self._waiting.items():
            if wanted <= checkpoint:
                wakeup.set()

    def on_listening(self, up: bool) -> None:
        self.listening = up
        for wakeup in self._waiting:
            wakeup.set()
