"""Events validated straight from their JSON bytes, without the Python objects of a parsed dict in between.

`parse_event` parses the bytes with orjson, then validates the dict (after any upcasting). pydantic-core can
validate the bytes itself, a third cheaper an event, but only without the envelope's before-validators: a
before-validator is handed Python objects, which makes pydantic-core build them from the JSON first. Both are left
out of the envelope's schema here, which is sound because neither can change what an event that passes without it
decodes to:

- the envelope's `_current_version_when_left_out` fills in a missing `schema_version`, and `parse_event` leaves
  an event without one to the full path;
- a time's `_leap_second` rewrites a leap second (`23:59:60`), which pydantic's parsing of times refuses.

So a straight validation that passes is what the full path returns; one that fails leaves the event to the full
path, which raises what it always raised. A type with a free-form value (`dict[str, Any]`: a correction's
`replacement`) is left to the full path too: there the two parsers may read the same JSON differently (orjson reads
an integer beyond 64 bits as a float, pydantic-core as an int).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator

from schemas.bounds import _leap_second
from schemas.envelope import _EnvelopeFields

# Before-validators whose effect the straight validation refuses (see above), by their plain functions.
_UNNEEDED = (_EnvelopeFields._current_version_when_left_out.__func__, _leap_second)


class _FreeForm(Exception):
    pass


def _without_unneeded(schema: Any) -> Any:
    """A copy of the core schema `schema` without the unneeded before-validators; raises _FreeForm at an `any`."""
    if isinstance(schema, list):
        return [_without_unneeded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "any":
        raise _FreeForm
    if schema.get("type") == "function-before":
        function = schema["function"]["function"]
        if getattr(function, "__func__", function) in _UNNEEDED:
            return _without_unneeded(schema["schema"])
    return {key: _without_unneeded(value) for key, value in schema.items()}


@cache
def straight_validator(model: type[BaseModel]) -> SchemaValidator | None:
    """`model`'s validator without the unneeded before-validators, for `validate_json`; None for a type with a
    free-form value."""
    try:
        return SchemaValidator(_without_unneeded(model.__pydantic_core_schema__))
    except _FreeForm:
        return None
