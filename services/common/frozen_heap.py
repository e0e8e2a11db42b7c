"""Out of the garbage collector's sight: what a service holds once started (modules, schemas, the app).

It lives as long as the process, yet every full collection walked all of it (about 120,000 objects): work that
outlives the younger collections (a batch of events waiting for its acks or its COMMIT) sets one off every batch
or two. Frozen, a full collection walks only what the work made.

A service whose work makes almost no reference cycles can also space out the young collections
(`young_threshold`): CPython starts one after 700 more container objects made than freed, and under concurrent
requests that is the requests in flight, walked and found live, collection after collection (ingest under 64
writers: 6% of a single event's CPU; query under 50 readers: 5-8% of a read's; neither freed anything); in the
projector, a batch's events until their COMMIT (720 young collections in a 20,000-event catch-up, none freeing
anything).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

SERVING_YOUNG_THRESHOLD = 10_000  # the HTTP services' requests in flight stay under it: almost no young collection
# The projector's and a replay's batches: each event's objects (its message, its decoded model, its rows) live
# until the batch's COMMIT and are then freed by reference counting, so at 700 the young collections walked
# and promoted them, and the older ones walked them again. At 50,000: 10% less of the projector's CPU per event
# in a catch-up, 3% less of a replay's, peak RSS unchanged (docs/performance.md, 2026-12-07).
PROJECTOR_YOUNG_THRESHOLD = 50_000


@contextmanager
def frozen_heap(young_threshold: int | None = None) -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.freeze()
    if young_threshold is not None:
        gc.set_threshold(young_threshold, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # collectable again (an app made by a test is not the last of its process)
