"""Who may read: anyone when `CRISIS_QUERY_PUBLIC` is true (the default), else a token with `events:read`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from services.common.auth import Scope
from services.common.bearer import configured_tokens, require_scope
from services.common.openapi import error_response
from services.common.settings import Settings


def read_access(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """`include_router` options for the read routes: nothing when public; else the tokens (loaded now, or
    refused) and the 401/403 answers."""
    if settings.query_public:
        return {}
    app.state.tokens = configured_tokens(settings, "the query service (CRISIS_QUERY_PUBLIC=false)")
    return {
        "dependencies": [Depends(require_scope(Scope.READ))],
        "responses": {
            401: error_response("No bearer token, or one that is not configured"),
            403: error_response("The token lacks the events:read scope"),
        },
    }
