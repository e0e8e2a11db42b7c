"""Opaque cursors for keyset pagination: the last row's sort key as JSON, in URL-safe base64.

A client passes `next_cursor` back unchanged; anything it did not get from us is a `MalformedCursor` (HTTP 400).
Each list has its own `Cursor` with the type of its sort key, so a key of the wrong shape is rejected too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import orjson
from pydantic import TypeAdapter

K = TypeVar("K")
T = TypeVar("T")


class MalformedCursor(ValueError):
    pass


class Cursor(Generic[K]):
    """Encodes and decodes the sort key `K` of one list, e.g. `tuple[AwareDatetime, int]`."""

    def __init__(self, key_type: Any) -> None:  # a type or an Annotated form, e.g. tuple[Slug]
        self._key: TypeAdapter[K] = TypeAdapter(key_type)

    def encode(self, key: K) -> str:
        return base64.urlsafe_b64encode(self._key.dump_json(key)).decode("ascii").rstrip("=")

    def decode(self, cursor: str) -> K:
        try:
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
            return self._key.validate_json(raw)
        except ValueError as exc:  # binascii.Error, non-ASCII text and pydantic's ValidationError are ValueErrors
            raise MalformedCursor("malformed cursor: pass back the next_cursor of the previous page unchanged") from exc


def next_page(rows: Sequence[T], limit: int, cursor: Cursor[K], key: Callable[[T], K]) -> tuple[list[T], str | None]:
    """The first `limit` rows and the cursor after them; `rows` holds up to `limit + 1` rows, the extra one
    only telling that there is more (so the last page has no cursor, and no empty page follows)."""
    if len(rows) <= limit:
        return list(rows), None
    items = list(rows[:limit])
    return items, cursor.encode(key(items[-1]))


def page_json(
    rows: Sequence[dict[str, Any]], limit: int, cursor: Cursor[K], key: Callable[[dict[str, Any]], K], **more: Any
) -> bytes:
    """A `Page` of rows PostgreSQL already wrote in the items' documented shape, as pydantic would write it: the
    same keys in the same order, no spaces (orjson writes each value as pydantic does: the same bytes). `more`: the
    fields of a page model that extends `Page`, in its order."""
    items, next_cursor = next_page(rows, limit, cursor, key)
    return orjson.dumps({"items": items, "next_cursor": next_cursor, **more})
