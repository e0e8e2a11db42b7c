"""Reading a request into validated submissions, or a 4xx whose body says what is wrong and where.

The body is parsed here rather than by FastAPI so that an event is validated against the model its `type`
names, an unknown type lists the known ones, and every error is located by its index in a batch. The JSON must
be standard (no Infinity or NaN, no number beyond a double, no key twice: Python's parser would take each one
silently). Before a model sees it, the JSON is cleaned (hygiene.py); after, its timestamps are checked against the
clock (clock.py).
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, Request
from pydantic import Field, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from schemas.catalogue import UnknownEventType, parse_submission
from schemas.envelope import EXPECTED_POSITION_FIELD, CorrelationId, EventSubmission, Position
from schemas.upcasting import CannotUpcast
from schemas.values import Model
from services.common.http import error_body, first_header, validation_details
from services.common.logging import CORRELATION_HEADER
from services.common.settings import Settings
from services.ingest.clock import future_timestamp_errors
from services.ingest.hygiene import cleaned
from services.ingest.identity import MAX_KEY_LENGTH

Loc = list[str | int]

IDEMPOTENCY_HEADER = "Idempotency-Key"


class Batch(Model):
    """Only the batch's shape; each event is validated on its own, against its type."""

    events: list[dict[str, Any]] = Field(min_length=1)
    expected_position: Position | None = Field(
        default=None, description="The position of the (single) incident of this batch the writer last saw."
    )


_correlation_id = TypeAdapter(Annotated[str, CorrelationId])
_position: TypeAdapter[int] = TypeAdapter(Position)


def invalid(error: str, details: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(422, detail=error_body(error, details))


def too_large(error: str, **figures: int) -> HTTPException:
    return HTTPException(413, detail=error_body(error) | figures)


def too_slow(size: int, settings: Settings) -> HTTPException:
    msg = (
        f"the body arrived too slowly ({size} bytes so far): after {settings.body_timeout_s:g} s it must average "
        f"at least {settings.body_min_rate} bytes/s"
    )
    detail = error_body("request body timeout", [{"loc": ["body"], "msg": msg, "type": "body_timeout"}])
    return HTTPException(408, detail=detail, headers={"Connection": "close"})


async def read_body(request: Request, settings: Settings) -> bytes:
    """The body, or 413 as soon as it is known to exceed the maximum (from Content-Length, else while reading),
    or 408 when it trickles in: each byte extends a grace of `body_timeout_s` by 1/`body_min_rate` s, so a slow
    client cannot hold a connection (and its buffers) for long."""
    max_bytes = settings.max_body_bytes
    declared = first_header(request.scope, "content-length") or ""
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(f"the body is {declared} bytes; at most {max_bytes} are accepted", max_bytes=max_bytes)
    started = asyncio.get_running_loop().time()
    chunks: list[bytes] = []
    size = 0
    try:
        # One timeout moved on by each chunk, not one per chunk: entering one was 4% of single-event ingest. The ASGI
        # messages are read here rather than through `request.stream()`, which does not tell the last chunk: the
        # grace is moved on only when more is to come (under uvloop a move costs about 4 us, and a single event's
        # body is one message).
        async with asyncio.timeout_at(started + settings.body_timeout_s) as grace:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()  # as `request.stream()` raises it
                if message["type"] != "http.request":
                    continue
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(f"the body exceeds {max_bytes} bytes", max_bytes=max_bytes)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
                grace.reschedule(started + settings.body_timeout_s + size / settings.body_min_rate)
    except TimeoutError as exc:
        raise too_slow(size, settings) from exc
    return b"".join(chunks)


class NotStandardJson(ValueError):
    """JSON that Python's parser reads but the standard (RFC 8259) does not allow, or that would be read lossily."""


def _no_constant(name: str) -> Any:
    raise NotStandardJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStandardJson(f"the number {text} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C; the loop below only names the key that came twice
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise NotStandardJson(f"duplicate key {key!r} in one object")
            seen.add(key)
    return result


# One decoder for every request: `json.loads` with these hooks builds a decoder per call (1% of single-event ingest).
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique_keys)


def decode_json(raw: bytes) -> Any:
    try:
        # What `json.loads` does with bytes: UTF-8, 16 or 32, told apart by the first bytes (a UTF-8 BOM skipped).
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except NotStandardJson as exc:
        raise invalid("invalid JSON", [{"loc": ["body"], "msg": str(exc), "type": "json_not_standard"}]) from exc
    except ValueError as exc:  # also UnicodeDecodeError
        raise invalid("invalid JSON", [{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}]) from exc
    except RecursionError as exc:
        raise invalid("invalid JSON", [{"loc": ["body"], "msg": "nested too deeply", "type": "json_invalid"}]) from exc


def submission_errors(raw: Any, loc: Loc, latest: datetime) -> tuple[EventSubmission[Any] | None, list[dict[str, Any]]]:
    """One event validated: (submission, []) or (None, errors located under `loc`)."""
    if not isinstance(raw, dict):
        return None, [{"loc": loc, "msg": "an event must be a JSON object", "type": "dict_type"}]
    errors: list[dict[str, Any]] = []
    event = cleaned(raw, loc, errors)
    if errors:
        return None, errors
    try:
        submission = parse_submission(event)
    except UnknownEventType as exc:
        return None, [{"loc": [*loc, "type"], "msg": str(exc), "type": "unknown_event_type"}]
    except CannotUpcast as exc:
        return None, [{"loc": [*loc, "schema_version"], "msg": str(exc), "type": "unknown_schema_version"}]
    except ValidationError as exc:
        return None, validation_details(exc.errors(), prefix=loc)
    errors = future_timestamp_errors(submission, latest, loc)
    return (None, errors) if errors else (submission, [])


def parse_event(raw: bytes, latest: datetime) -> tuple[EventSubmission[Any], int | None]:
    """The event and the position the writer expects its incident at (the `expected_position` field), if any."""
    body = decode_json(raw)
    expected = body.pop(EXPECTED_POSITION_FIELD, None) if isinstance(body, dict) else None
    if expected is not None:
        try:
            expected = _position.validate_python(expected)
        except ValidationError as exc:
            raise invalid("invalid event", validation_details(exc.errors(), ["body", EXPECTED_POSITION_FIELD])) from exc
    submission, errors = submission_errors(body, ["body"], latest)
    if submission is None:
        raise invalid("invalid event", errors)
    return submission, expected


def parse_batch(raw: bytes, max_batch: int, latest: datetime) -> tuple[list[EventSubmission[Any]], int | None]:
    """Every event of the batch, or 413/422: all or nothing, with the errors of every bad event."""
    body = decode_json(raw)
    # Count before validating: a huge batch is refused without the work of validating it.
    if isinstance(body, dict) and isinstance(body.get("events"), list) and len(body["events"]) > max_batch:
        count = len(body["events"])
        raise too_large(
            f"a batch holds at most {max_batch} events; this one has {count}", count=count, max_batch=max_batch
        )
    try:
        batch = Batch.model_validate(body)
    except ValidationError as exc:
        raise invalid("invalid batch", validation_details(exc.errors(), prefix=["body"])) from exc
    submissions: list[EventSubmission[Any]] = []
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(batch.events):
        submission, event_errors = submission_errors(event, ["body", "events", index], latest)
        errors.extend(event_errors)
        if submission is not None:
            submissions.append(submission)
    if errors:
        raise invalid("invalid events: nothing of this batch was published", errors)
    return submissions, batch.expected_position


def idempotency_key(request: Request) -> str | None:
    key = first_header(request.scope, IDEMPOTENCY_HEADER)
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        msg = f"must be 1 to {MAX_KEY_LENGTH} characters"
        raise invalid("invalid header", [{"loc": ["header", IDEMPOTENCY_HEADER], "msg": msg, "type": "key"}])
    return key


def request_correlation_id(request: Request) -> str:
    """The request's correlation id (from its header, else made by the middleware), fit for the envelope."""
    cid: str = request.state.correlation_id
    try:
        return _correlation_id.validate_python(cid)
    except ValidationError as exc:
        details = validation_details(exc.errors(), prefix=["header", CORRELATION_HEADER])
        raise invalid("invalid header", details) from exc
