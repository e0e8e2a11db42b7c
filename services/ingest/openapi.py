"""Ingest's request bodies and error answers as OpenAPI: ingest reads its body by hand (bodies.py), so FastAPI
cannot see its shape; this describes it, generated from the catalogue's models, for clients and contract tests.
"""

from __future__ import annotations

from typing import Any, Union

from pydantic import TypeAdapter

from schemas.catalogue import EVENT_TYPES
from schemas.envelope import EXPECTED_POSITION_FIELD, EventSubmission
from services.common.openapi import error_response
from services.ingest.bodies import IDEMPOTENCY_HEADER
from services.ingest.concurrency import IF_MATCH
from services.ingest.identity import MAX_KEY_LENGTH

_POSITION: dict[str, Any] = {
    "type": "integer",
    "minimum": 0,
    "description": "The incident position the writer last saw (as If-Match): 409 if the incident has moved on.",
}


def _submission_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the schema of one submission, the component schemas it refers to): one variant per event type."""
    variants = tuple(EventSubmission[cls] for cls in EVENT_TYPES.values())  # type: ignore[valid-type]
    union: TypeAdapter[Any] = TypeAdapter(Union[variants])  # type: ignore[arg-type]  # noqa: UP007
    schema = union.json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs")
    mapping: dict[str, str] = {}
    for name, variant in zip(EVENT_TYPES, schema["anyOf"], strict=True):
        ref = variant["$ref"]
        component = components[ref.rsplit("/", 1)[-1]]
        component["properties"]["type"] = {"const": name, "type": "string"}
        component["properties"][EXPECTED_POSITION_FIELD] = _POSITION
        mapping[name] = ref
    one = {"oneOf": schema["anyOf"], "discriminator": {"propertyName": "type", "mapping": mapping}}
    return one, components


SUBMISSION, COMPONENTS = _submission_schemas()

_HEADERS = [
    {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "description": "Makes a retry safe: the same key (same token) yields the same event ids; reusing it "
        "for a different event is 409.",
    },
    {
        "name": IF_MATCH,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": r'^(W/)?"?[0-9]{1,19}"?$'},
        "description": "The incident position the writer last saw: 409 if the incident has moved on.",
    },
]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "parameters": _HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
    }


ONE_EVENT_BODY = _body(SUBMISSION)
BATCH_BODY = _body(
    {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": SUBMISSION, "minItems": 1},
            EXPECTED_POSITION_FIELD: _POSITION,
        },
        "required": ["events"],
        "additionalProperties": False,
    }
)

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_response("No bearer token, or one that is not configured"),
    403: error_response("The token lacks the events:write scope"),
    408: error_response("The body arrived too slowly (see CRISIS_BODY_TIMEOUT_S, CRISIS_BODY_MIN_RATE)"),
    409: error_response(
        "The incident has moved on from the expected position (nothing was published), or an event id "
        "(from the body or derived from the Idempotency-Key) names another event already, another writer's or "
        "another body: those events were not stored"
    ),
    413: error_response("The body, or the batch, is too large"),
    422: error_response("Invalid request: `details` locates each error"),
    429: error_response("Too many requests for this token; retry after Retry-After"),
    503: error_response("NATS is unavailable or too slow; retry after Retry-After, with the same Idempotency-Key"),
}
