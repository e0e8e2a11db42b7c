"""The headers ingest sets on every message it publishes: named once here, declared in the AsyncAPI document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MESSAGE_ID = "Nats-Msg-Id"
CONTENT_TYPE = "content-type"
CORRELATION = "X-Correlation-ID"
RECORDED_BY = "Crisis-Recorded-By"
BODY_SHA256 = "Crisis-Body-Sha256"
EXPECTED_STREAM = "Nats-Expected-Stream"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SEQUENCE_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
# JetStream's atomic batch (ADR-50): the events of one batch request, or the single events of concurrent requests
# (ingest's group commit), stored all, one after another, or none.
BATCH_ID = "Nats-Batch-Id"
BATCH_SEQUENCE = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
# What tells JetStream how to take a message as it is published (a check to make, the batch it belongs to), not
# what the message is.
_PUBLISH_CONTROLS = ("Nats-Expected-", "Nats-Batch-")

# The JSON Schema of a message's headers (every value a string, as NATS headers are).
HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        MESSAGE_ID: {
            "type": "string",
            "format": "uuid",
            "description": "The event id; JetStream drops a second message with the same id (deduplication).",
        },
        CONTENT_TYPE: {"type": "string", "const": "application/json"},
        CORRELATION: {
            "type": "string",
            "description": "The correlation id of the request that reported the event, when it had one.",
        },
        RECORDED_BY: {
            "type": "string",
            "description": "The name of the API token that recorded the event (as `recorded_by`; empty when none).",
        },
        BODY_SHA256: {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256 of the event as its writer sent it (canonical JSON, without the fields ingest "
            "stamps): ingest tells a retry of this event from another event that reuses its id.",
        },
        EXPECTED_STREAM: {
            "type": "string",
            "description": "The stream the message was published to (JetStream refuses it on any other).",
        },
        EXPECTED_LAST_SEQUENCE: {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Only on a write that expected a position: the incident's position (last stream sequence) "
            "the writer expected; JetStream refused the message unless it held.",
        },
        EXPECTED_LAST_SEQUENCE_SUBJECT: {
            "type": "string",
            "description": "With the expected sequence: the subjects it was checked over, the incident's "
            "`crisis.events.<incident_id>.*`.",
        },
        BATCH_ID: {
            "type": "string",
            "description": "Only on an event stored in an atomic batch (a batch request's events, or single "
            "events of concurrent requests that ingest sent together): the batch's id. Every event of the batch "
            "carries it, and the stream holds them one after another, in the batch's order.",
        },
        BATCH_SEQUENCE: {
            "type": "string",
            "pattern": "^[1-9][0-9]*$",
            "description": "With the batch id: the event's place in its batch, from 1.",
        },
        BATCH_COMMIT: {
            "type": "string",
            "const": "1",
            "description": "On the last event of an atomic batch: the one that committed it.",
        },
    },
    "required": [MESSAGE_ID, CONTENT_TYPE, RECORDED_BY, BODY_SHA256, EXPECTED_STREAM],
}


def republishable(headers: Mapping[str, str]) -> dict[str, str]:
    """A stored message's headers to publish it again with (`crisis import`, a purge's republish, the bench's
    copy): without those that told JetStream how to take it the first time. Sent again, an expected position
    would be checked against another stream's state, and a batch's headers would open a batch never committed."""
    return {name: value for name, value in headers.items() if not name.startswith(_PUBLISH_CONTROLS)}
