"""Whether a stored event with the same id is this very event (a true retry) or another one that took the id.

A retry carries the same body from the same writer, but ingest stamps `recorded_at` (and may take the correlation id
from the request) anew, so what is compared is a hash of what the writer sent, kept beside the event in the
message headers with the writer's name. An event stored without them (before they existed, or by `crisis import`)
cannot be compared and counts as a retry, as it always did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from schemas.envelope import Event
from schemas.headers import BODY_SHA256, RECORDED_BY

# Stamped by ingest per request, not sent by the writer (or, for the correlation id, not part of the report).
_STAMPED = {"event_id", "recorded_at", "recorded_by", "correlation_id"}


def writer_body(event: Event[Any]) -> bytes:
    """The event as the writer sent it, canonical JSON: validated and normalised, in the model's order."""
    return event.__pydantic_serializer__.to_json(event, exclude=_STAMPED)


def stamped(event: Event[Any], body: bytes) -> bytes:
    """The whole event's JSON: its `writer_body` with the stamped fields appended, so one encoding of the body
    serves both the message and its hash (encoding it twice was a twentieth of batch ingest's CPU)."""
    stamps = event.__pydantic_serializer__.to_json(event, include=_STAMPED)  # never {}: event_id is required
    return body[:-1] + b"," + stamps[1:]


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def ownership_headers(event: Event[Any], body: bytes) -> dict[str, str]:
    """`body` is the event's `writer_body`."""
    return {RECORDED_BY: event.recorded_by or "", BODY_SHA256: body_sha256(body)}


def taken_because(event: Event[Any], stored_headers: Mapping[str, str]) -> str | None:
    """Why the stored message with `event`'s id is another event; None when it is this one (a true retry)."""
    writer, body = stored_headers.get(RECORDED_BY), stored_headers.get(BODY_SHA256)
    if writer is not None and writer != (event.recorded_by or ""):
        return "this event id was taken by another writer: choose another Idempotency-Key or event_id"
    if body is not None and body != body_sha256(writer_body(event)):
        return (
            "this event id (or Idempotency-Key) was used before for an event with a different body: "
            "a retry must send the same event; a new event needs a new Idempotency-Key or event_id"
        )
    return None
