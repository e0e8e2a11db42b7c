"""Input hygiene, applied to the decoded JSON before any model sees it.

- Every string (keys too) is normalised to Unicode NFC, so "é" typed two ways is one value in every read model.
- Control characters are refused, except newline and tab (multi-line text); lone surrogates too (they cannot be
  encoded as UTF-8 and would fail later, far from the input).
- Caps that hold whatever the event type: string length, list length, nesting depth. The models have tighter
  caps of their own; these bound the work done before a model is even chosen.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_STRING_CHARS = 10_000
MAX_LIST_ITEMS = 1_000
MAX_DEPTH = 16
ALLOWED_CONTROLS = frozenset("\n\t")
# Categories Cc (U+0000-U+001F, U+007F-U+009F: fixed by Unicode's stability policy) and Cs (the surrogates), less
# ALLOWED_CONTROLS. One regular expression scans a string in C; asking each character's category took a fifth of
# batch ingest's time.
_REFUSED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

Loc = list[str | int]
# Where a value sits: the root's Loc, or (the parent's At, key or index). Unrolled into a Loc only for an error:
# copying the path for every value of every event cost more than checking the values.
At = Loc | tuple[Any, str | int]


def _loc(at: At) -> Loc:
    keys: list[str | int] = []
    while isinstance(at, tuple):
        at, key = at
        keys.append(key)
    return [*at, *reversed(keys)]


def _error(at: At, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": _loc(at), "msg": msg, "type": kind}


def _cleaned_string(value: str, at: At, errors: list[dict[str, Any]]) -> str:
    """`value` NFC-normalised; or, with what is wrong appended to `errors`, as it is."""
    if len(value) > MAX_STRING_CHARS:
        errors.append(_error(at, f"at most {MAX_STRING_CHARS} characters", "string_too_long"))
        return value
    refused = _REFUSED.search(value)
    if refused is not None:
        msg = f"control character U+{ord(refused.group()):04X} at position {refused.start()}"
        errors.append(_error(at, msg, "control_character"))
        return value
    return value if value.isascii() else unicodedata.normalize("NFC", value)  # ASCII is NFC already


# What the hygiene keeps as it is: besides these, a printable ASCII string within the cap (ASCII is NFC, and
# `isprintable` is False for every refused ASCII character, and for newline and tab, which take the full check).
_SCALARS = frozenset({int, float, bool, type(None)})


def cleaned(value: Any, at: At, errors: list[dict[str, Any]], depth: int = 0) -> Any:
    """`value` with every string NFC-normalised; what is wrong is appended to `errors` (located by `at`)."""
    if depth > MAX_DEPTH:
        errors.append(_error(at, f"nested deeper than {MAX_DEPTH} levels", "too_deep"))
        return value
    if isinstance(value, str):
        return _cleaned_string(value, at, errors)
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            errors.append(_error(at, f"at most {MAX_LIST_ITEMS} items", "too_long"))
            return value
        return [cleaned(item, (at, i), errors, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        # Most of an object's keys and values are plain, told by a test written out here: the calls of the full
        # check, per key and per value, were most of the hygiene's time. At the last level every value is refused.
        shallow = depth < MAX_DEPTH
        result: dict[Any, Any] = {}
        for key, item in value.items():
            clean_key = key
            if not (key.isascii() and len(key) <= MAX_STRING_CHARS and key.isprintable()):
                clean_key = _cleaned_string(key, (at, key), errors)
            kind = type(item)
            plain = kind in _SCALARS or (
                kind is str and item.isascii() and len(item) <= MAX_STRING_CHARS and item.isprintable()
            )
            result[clean_key] = item if shallow and plain else cleaned(item, (at, key), errors, depth + 1)
        return result
    return value
