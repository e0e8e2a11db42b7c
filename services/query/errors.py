"""The 4xx answers the read routes share, documented once: unknown ids (404), malformed cursors (400), and a
parameter refused by a rule across parameters (422, in the same shape as FastAPI's own validation errors)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from services.common.http import error_body
from services.common.openapi import ErrorBody
from services.query.freshness import Freshness
from services.query.pagination import Cursor, MalformedCursor

K = TypeVar("K")

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed cursor, or a min_position beyond the end of the stream."}
}


def after_cursor(cursor: Cursor[K], value: str | None) -> K | None:
    """The sort key a client's `cursor` parameter carries (None: the first page); a malformed one is a 400."""
    if value is None:
        return None
    try:
        return cursor.decode(value)
    except MalformedCursor as exc:
        detail = {"loc": ["query", "cursor"], "msg": str(exc), "type": "malformed_cursor"}
        raise HTTPException(400, detail=error_body(str(exc), [detail])) from exc


def not_found(what: str, freshness: Freshness) -> HTTPException:
    return HTTPException(404, detail=error_body(f"{what} not found"), headers=freshness.headers)


def invalid_parameter(name: str, message: str) -> RequestValidationError:
    """A 422 naming the query parameter `name` and what is allowed."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])
