"""The AsyncAPI 3.0 document of the event stream: its subjects, one message per event type, and their headers.

One channel per event type, `crisis.events.{incident_id}.<EventType>`, so a code generator gets one typed message
per subject; a subscriber may still take several types (or all) with NATS wildcards, as the description says.
"""

from __future__ import annotations

from typing import Any

from schemas.catalogue import EVENT_TYPES
from schemas.headers import CORRELATION, HEADERS
from schemas.jsonschemas import schema_file, shared_schemas
from schemas.subjects import ALL_EVENTS, STREAM_NAME, SUBJECT_PREFIX

CONTRACT_VERSION = "1.0.0"  # of the document's shape; each event type carries its own schema_version

DESCRIPTION = f"""\
Every fact reported about a crisis is an immutable event in the NATS JetStream stream `{STREAM_NAME}`, on the
subject `{SUBJECT_PREFIX}.<incident_id>.<EventType>`. Filter with NATS wildcards: `{ALL_EVENTS}` (everything),
`{SUBJECT_PREFIX}.<incident_id>.>` (one incident), `{SUBJECT_PREFIX}.*.<EventType>` (one type). The stream keeps
every event (no age or size limit): create a durable consumer and start from the first sequence or from a time.

Each message is one JSON event envelope; pick its schema by `type` and `schema_version` (the JSON Schemas are
published beside this document as `events/<EventType>.v<schema_version>.json`). A type's shape never changes in
place: a changed shape is a new `schema_version`, and events already in the stream keep their old version."""


def asyncapi_document() -> dict[str, Any]:
    names, schemas = shared_schemas("#/components/schemas/{model}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, cls in EVENT_TYPES.items():
        messages[event_type] = {
            "name": event_type,
            "title": event_type,
            "summary": (cls.__doc__ or event_type).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/EventHeaders"},
            "payload": {"$ref": f"#/components/schemas/{names[event_type]}"},
            "correlationId": {"$ref": "#/components/correlationIds/event"},
            "x-schema-version": cls.schema_version,
            "x-json-schema": schema_file(event_type, cls.schema_version),
        }
        channels[event_type] = {
            "address": f"{SUBJECT_PREFIX}.{{incident_id}}.{event_type}",
            "title": event_type,
            "parameters": {"incident_id": {"$ref": "#/components/parameters/incident_id"}},
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
        }
        operations[f"receive{event_type}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "crisis events", "version": CONTRACT_VERSION, "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "{host}:{port}",
                "protocol": "nats",
                "description": "A NATS server with JetStream holding the stream: `crisis up` starts an embedded one on "
                "a free loopback port and prints its URL (and `crisis status` shows it); production uses "
                "`CRISIS_NATS_URL`.",
                "variables": {
                    "host": {"default": "127.0.0.1", "description": "The NATS server's host."},
                    "port": {"default": "4222", "description": "Its client port, as `crisis up` prints it."},
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {"EventHeaders": HEADERS, **schemas},
            "messages": messages,
            "parameters": {
                "incident_id": {"description": "The incident's slug, e.g. kg-2020-election (lowercase, dashes)."}
            },
            "correlationIds": {
                "event": {
                    "description": "The correlation id carried from the reporting request.",
                    "location": f"$message.header#/{CORRELATION}",
                }
            },
        },
    }
