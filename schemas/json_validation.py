"""Events validated straight from their JSON bytes, without the Python objects of a parsed dict in between.

`parse_event` parses the bytes with orjson, then validates the dict (after any upcasting). pydantic-core can
validate the bytes itself, a third cheaper an event, but not through a model-level before-validator: that one is
handed Python objects, which makes pydantic-core build them from the JSON first. The envelope's one,
`_current_version_when_left_out`, only fills in a missing `schema_version`, and `parse_event` leaves an event
without one to the full path; so it is left out of the schema here.

A straight validation that passes is then what the full path returns; one that fails leaves the event to the full
path, which raises what it always raised. A type with a free-form value (`dict[str, Any]`: a correction's
`replacement`) is left to the full path too: there the two parsers may read the same JSON differently (orjson reads
an integer beyond 64 bits as a float, pydantic-core as an int).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator

from schemas.envelope import _EnvelopeFields

_FILLS_IN_THE_VERSION = _EnvelopeFields._current_version_when_left_out.__func__


class _FreeForm(Exception):
    pass


def _straight_schema(schema: Any) -> Any:
    """A copy of the core schema `schema` without the envelope's before-validator; raises _FreeForm at an `any`."""
    if isinstance(schema, list):
        return [_straight_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "any":
        raise _FreeForm
    if schema.get("type") == "function-before":
        function = schema["function"]["function"]
        if getattr(function, "__func__", None) is _FILLS_IN_THE_VERSION:
            return _straight_schema(schema["schema"])
    return {key: _straight_schema(value) for key, value in schema.items()}


@cache
def straight_validator(model: type[BaseModel]) -> SchemaValidator | None:
    """`model`'s validator without the envelope's before-validator, for `validate_json`; None for a type with a
    free-form value."""
    try:
        return SchemaValidator(_straight_schema(model.__pydantic_core_schema__))
    except _FreeForm:
        return None
