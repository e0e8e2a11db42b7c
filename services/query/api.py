"""The read API's one router, as FastAPI's full-stack template's `api_router`: the /v1 prefix, the read position
every answer carries (X-Position, min_position) and the documented 503, declared once for every route module."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from services.common.openapi import ErrorBody
from services.query import analyst_routes, domain_routes, routes
from services.query.dependencies import read_position

# Every read takes min_position (read_position): every one may answer 400 for a position beyond the stream's end.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A min_position beyond the end of the stream."},
    503: {"model": ErrorBody, "description": "PostgreSQL is down or too slow; retry after Retry-After."},
}
api_router = APIRouter(prefix="/v1", tags=["query"], dependencies=[Depends(read_position)], responses=READ_RESPONSES)
api_router.include_router(routes.router)
api_router.include_router(domain_routes.router)
api_router.include_router(analyst_routes.router)
