"""The read API's one router, as FastAPI's full-stack template's `api_router`: the /v1 prefix and the documented
400 and 503, declared once for every route module. Each route reads the position its answer carries (X-Position,
min_position): the hot reads in the same round trip as their data (services/query/dependencies.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.common.openapi import ErrorBody
from services.query import analyst_routes, domain_routes, routes

# Every read takes min_position: every one may answer 400 for a position beyond the stream's end.
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A min_position beyond the end of the stream."},
    503: {"model": ErrorBody, "description": "PostgreSQL is down or too slow; retry after Retry-After."},
}
api_router = APIRouter(prefix="/v1", tags=["query"], responses=READ_RESPONSES)
api_router.include_router(routes.router)
api_router.include_router(domain_routes.router)
api_router.include_router(analyst_routes.router)
