"""Ingest's Prometheus figures."""

from prometheus_client import Counter

EVENTS_ACCEPTED = Counter("crisis_ingest_events_accepted_total", "Events newly stored in the stream", ["type"])
EVENTS_DUPLICATE = Counter(
    "crisis_ingest_events_duplicate_total", "Retried events JetStream dropped as duplicates", ["type"]
)
PUBLISH_FAILURES = Counter(
    "crisis_ingest_publish_failures_total", "Events not stored because NATS was unavailable", ["reason"]
)
