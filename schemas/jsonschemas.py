"""JSON Schema (draft 2020-12) of the events as the stream holds them, and of the reports a writer submits,
generated from the pydantic models.

Each event type gets the schema of its whole envelope with `type` and `schema_version` pinned to constants, so a
subscriber picks the schema by those two fields and validates the message with it. The envelope schema alone
checks what every event shares, leaving `data` open. A submission schema is what `POST /v1/events` takes (one
per batch item of `POST /v1/events/batch`): no `recorded_at` or `recorded_by` (ingest sets them), an optional
`event_id`, and the optional expected position.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from schemas.catalogue import EVENT_TYPES
from schemas.envelope import EXPECTED_POSITION_FIELD, Event, EventSubmission, Position
from schemas.events.base import EventPayload

DIALECT = "https://json-schema.org/draft/2020-12/schema"
JsonSchema = dict[str, Any]


def schema_file(event_type: str, version: int) -> str:
    """Where the schema of one version of one type is published, relative to the generated folder."""
    return f"events/{event_type}.v{version}.json"


def submission_file(event_type: str, version: int) -> str:
    """Where the schema of a report of one version of one type, as a writer sends it, is published."""
    return f"submissions/{event_type}.v{version}.json"


def pin_type(schema: JsonSchema, cls: type[EventPayload]) -> JsonSchema:
    """The envelope schema of `cls` with `type` and `schema_version` as constants, both required."""
    properties = schema["properties"]
    properties["type"] = {"const": cls.event_type(), "description": properties["type"].get("description", "")}
    properties["schema_version"] = {"const": cls.schema_version, "description": "The version of this type's shape."}
    schema["required"] = sorted({*schema.get("required", ()), "type", "schema_version"})
    return schema


def event_schema(cls: type[EventPayload]) -> JsonSchema:
    schema = pin_type(Event[cls].model_json_schema(mode="serialization"), cls)  # type: ignore[valid-type]
    return {"$schema": DIALECT, "$id": schema_file(cls.event_type(), cls.schema_version), **schema}


def submission_schema(cls: type[EventPayload]) -> JsonSchema:
    """What a writer sends for one report of `cls` (ingest accepts only the current version of a type)."""
    schema = pin_type(EventSubmission[cls].model_json_schema(mode="validation"), cls)  # type: ignore[valid-type]
    schema["required"].remove("schema_version")  # a writer may leave it out: it is the type's current version
    schema["properties"][EXPECTED_POSITION_FIELD] = {
        **TypeAdapter(Position).json_schema(),
        "description": "POST /v1/events only (a batch gives it once, beside `events`): the incident's position the "
        "writer last saw; 409 if the incident has moved on.",
    }
    schema["description"] = (
        f"A {cls.event_type()} report as a writer submits it to ingest. Rules beyond the schema: "
        "`occurred_at` and `reported_at` no later than now (plus the allowed clock skew); "
        "every string normalised to Unicode NFC, control characters refused."
    )
    return {"$schema": DIALECT, "$id": submission_file(cls.event_type(), cls.schema_version), **schema}


def envelope_schema() -> JsonSchema:
    """What every event carries; `data` is checked by the schema of the event's type and version."""
    schema = Event[EventPayload].model_json_schema(mode="serialization")
    del schema["$defs"]["EventPayload"]
    properties = schema["properties"]
    properties["type"] = {**properties["type"], "enum": sorted(EVENT_TYPES)}
    properties["data"] = {
        "type": "object",
        "description": "The type's payload: validate the whole event with events/<type>.v<schema_version>.json.",
    }
    schema["required"] = sorted({*schema.get("required", ()), "schema_version"})
    return {"$schema": DIALECT, "$id": "envelope.json", **schema, "title": "Event envelope"}


def shared_schemas(ref_template: str) -> tuple[dict[str, str], JsonSchema]:
    """Every type's envelope schema and the models they use, as one flat set of named definitions whose
    references follow `ref_template` (e.g. `#/components/schemas/{model}` in an AsyncAPI document); and the name
    of each event type's envelope schema among them."""
    envelopes = {name: Event[cls] for name, cls in EVENT_TYPES.items()}  # type: ignore[valid-type]
    refs, defs = models_json_schema([(e, "serialization") for e in envelopes.values()], ref_template=ref_template)
    named: JsonSchema = defs["$defs"]
    names = {event_type: refs[(e, "serialization")]["$ref"].rsplit("/", 1)[-1] for event_type, e in envelopes.items()}
    for event_type, name in names.items():
        pin_type(named[name], EVENT_TYPES[event_type])
    return names, named
