"""Input hygiene, applied to the decoded JSON before any model sees it.

- Every string (keys too) is normalised to Unicode NFC, so "é" typed two ways is one value in every read model.
- Control characters are refused, except newline and tab (multi-line text); lone surrogates too (they cannot be
  encoded as UTF-8 and would fail later, far from the input).
- Caps that hold whatever the event type: string length, list length, nesting depth. The models have tighter
  caps of their own; these bound the work done before a model is even chosen.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_STRING_CHARS = 10_000
MAX_LIST_ITEMS = 1_000
MAX_DEPTH = 16
ALLOWED_CONTROLS = frozenset("\n\t")

Loc = list[str | int]


def _error(loc: Loc, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _string_errors(value: str, loc: Loc) -> list[dict[str, Any]]:
    if len(value) > MAX_STRING_CHARS:
        return [_error(loc, f"at most {MAX_STRING_CHARS} characters", "string_too_long")]
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if (category == "Cc" and char not in ALLOWED_CONTROLS) or category == "Cs":
            return [_error(loc, f"control character U+{ord(char):04X} at position {index}", "control_character")]
    return []


def cleaned(value: Any, loc: Loc, errors: list[dict[str, Any]], depth: int = 0) -> Any:
    """`value` with every string NFC-normalised; what is wrong is appended to `errors` (located by `loc`)."""
    if depth > MAX_DEPTH:
        errors.append(_error(loc, f"nested deeper than {MAX_DEPTH} levels", "too_deep"))
        return value
    if isinstance(value, str):
        string_errors = _string_errors(value, loc)
        errors.extend(string_errors)
        return value if string_errors else unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            errors.append(_error(loc, f"at most {MAX_LIST_ITEMS} items", "too_long"))
            return value
        return [cleaned(item, [*loc, i], errors, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            key_errors = _string_errors(key, [*loc, key])
            errors.extend(key_errors)
            result[key if key_errors else unicodedata.normalize("NFC", key)] = cleaned(
                item, [*loc, key], errors, depth + 1
            )
        return result
    return value
