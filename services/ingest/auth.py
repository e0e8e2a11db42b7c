"""Bearer-token authentication for the write API; the token's name is who recorded the event."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.auth import TokenConfigError, authenticate, parse_tokens
from services.common.http import error_body
from services.common.settings import Settings

# auto_error=False: we answer 401 (not FastAPI's 403) with our own body; it still documents the scheme in OpenAPI.
bearer = HTTPBearer(auto_error=False, description="An API token from CRISIS_API_TOKENS")


def load_tokens(settings: Settings) -> dict[str, bytes]:
    """The configured tokens, hashed; raises TokenConfigError when there are none (ingest never runs open)."""
    tokens = parse_tokens(settings.api_tokens.get_secret_value() if settings.api_tokens else "")
    if not tokens:
        raise TokenConfigError(
            "ingest needs at least one API token: set CRISIS_API_TOKENS=name:token (tokens of 16+ characters)"
        )
    return tokens


def _unauthorized(reason: str, challenge: str) -> HTTPException:
    return HTTPException(401, detail=error_body(reason), headers={"WWW-Authenticate": challenge})


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The name of the presented token; 401 when it is missing or unknown."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token: send Authorization: Bearer <token>", "Bearer")
    tokens: dict[str, bytes] = request.app.state.tokens
    name = authenticate(tokens, credentials.credentials)
    if name is None:
        raise _unauthorized("invalid bearer token", 'Bearer error="invalid_token"')
    return name


TokenName = Annotated[str, Depends(require_token)]
