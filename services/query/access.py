"""Who may read: anyone when `CRISIS_QUERY_PUBLIC` is true (the default), else a token with `events:read`.

Not public means nothing is: /metrics (what is stored, how fast it grows) and the API's documents (/docs,
/redoc, /openapi.json) want the same token as the data. Only /healthz and /readyz stay open, for probes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from services.common.auth import Scope
from services.common.bearer import bearer, configured_tokens, require_scope
from services.common.openapi import error_response
from services.common.settings import Settings

# FastAPI serves the documents itself, outside the routers a dependency can guard.
OPERATIONS_PATHS = frozenset({"/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def read_access(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """`include_router` options for the read routes: nothing when public; else the tokens (loaded now, or
    refused) and the 401/403 answers."""
    if settings.query_public:
        return {}
    app.state.tokens = configured_tokens(settings, "the query service (CRISIS_QUERY_PUBLIC=false)")
    responses: dict[int | str, dict[str, Any]] = {
        401: error_response("No bearer token, or one that is not configured"),
        403: error_response("The token lacks the events:read scope"),
    }
    _guard_operations(app, responses)
    return {"dependencies": [Depends(require_scope(Scope.READ))], "responses": responses}


async def authorised_reader(request: Request) -> bool:
    """Whether the request carries a token the read routes accept (what the answer cache checks before a hit)."""
    try:
        await require_scope(Scope.READ)(request, await bearer(request))
    except HTTPException:
        return False
    return True


def _guard_operations(app: FastAPI, responses: dict[int | str, dict[str, Any]]) -> None:
    """The read token for OPERATIONS_PATHS too; the 401 and 403 documented on /metrics."""
    authorised = require_scope(Scope.READ)

    @app.middleware("http")
    async def operations_need_a_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path in OPERATIONS_PATHS:
            try:
                await authorised(request, await bearer(request))
            except HTTPException as refusal:  # raised outside the app's handlers: answered here, alike
                return JSONResponse(refusal.detail, refusal.status_code, headers=refusal.headers)
        return await call_next(request)

    for route in app.routes:
        if isinstance(route, APIRoute) and route.path in OPERATIONS_PATHS:
            route.responses = route.responses | responses
