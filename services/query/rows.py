"""Rows made into response models in one validation over the whole result: pydantic's `__init__` a row at a time
(as psycopg's class_row calls it) cost a timeline page of 50 rows about twice as much (docs/performance.md)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

M = TypeVar("M", bound=BaseModel)


def models(model: type[M], rows: Sequence[dict[str, Any]]) -> list[M]:
    """The rows (dicts, column name to value) as `model`s, as `[model(**row) for row in rows]` makes them."""
    return _list_of(model).validate_python(rows)


@functools.cache
def _list_of(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]
