"""The projector's Prometheus figures, labelled by projection."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter("crisis_projector_events_applied_total", "Events applied to a read model", ["projection"])
EVENTS_SKIPPED = Counter(
    "crisis_projector_events_skipped_total", "Redelivered events at or below the checkpoint", ["projection"]
)
DEAD_LETTERS = Counter("crisis_projector_dead_letters_total", "Events sent to the dead-letter table", ["projection"])
BATCH_FAILURES = Counter("crisis_projector_batch_failures_total", "Batches NAKed for a retry", ["projection"])
CHECKPOINT = Gauge("crisis_projector_checkpoint", "Last stream sequence applied", ["projection"])
BATCH_SECONDS = Histogram("crisis_projector_batch_seconds", "Time to apply and commit one batch", ["projection"])
ACTIVE = Gauge(
    "crisis_projector_active", "1 while this process holds the projection's lease and feeds it", ["projection"]
)
