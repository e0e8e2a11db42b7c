"""Out of the garbage collector's sight: what a service holds once started (modules, schemas, the app).

It lives as long as the process, yet every full collection walked all of it (about 120,000 objects): work that
outlives the younger collections (a batch of events waiting for its acks or its COMMIT) sets one off every batch
or two. Frozen, a full collection walks only what the work made.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # collectable again (an app made by a test is not the last of its process)
