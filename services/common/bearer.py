"""The HTTP side of API tokens: a FastAPI dependency that wants a bearer token carrying a scope.

No token, or one that is not configured: 401 with a `WWW-Authenticate` challenge. A known token without the scope:
403 naming the scope (RFC 6750 `insufficient_scope`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.auth import (
    ApiToken,
    Scope,
    TokenConfigError,
    Tokens,
    authenticate,
    load_token_file,
    merge_tokens,
    parse_tokens,
)
from services.common.http import error_body
from services.common.settings import Settings

# auto_error=False: we answer 401 (not FastAPI's 403) with our own body; it still documents the scheme in OpenAPI.
bearer = HTTPBearer(auto_error=False, description="An API token from CRISIS_API_TOKENS or CRISIS_API_TOKENS_FILE")

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def configured_tokens(settings: Settings, service: str) -> dict[str, ApiToken]:
    """Every configured token; TokenConfigError when there are none (a service that needs them never runs open)."""
    spec = settings.api_tokens.get_secret_value() if settings.api_tokens else ""
    from_file = load_token_file(settings.api_tokens_file) if settings.api_tokens_file else {}
    tokens = merge_tokens(parse_tokens(spec), from_file)
    if not tokens:
        raise TokenConfigError(
            f"{service} needs at least one API token: set CRISIS_API_TOKENS=name:token (tokens of 16+ characters) "
            "or CRISIS_API_TOKENS_FILE"
        )
    return tokens


def require_scope(scope: Scope) -> Callable[[Request, Credentials], Awaitable[ApiToken]]:
    """A dependency answering the presented token when it carries `scope`, else 401 or 403.

    The tokens are the app's `state.tokens`, loaded by `configured_tokens` when the app is created. It is async
    though it never awaits: FastAPI runs a plain `def` dependency in its thread pool, a hand-off per request that
    cost ingest about a fifth of its CPU under load.
    """

    async def authorised(request: Request, credentials: Credentials) -> ApiToken:
        tokens: Tokens = request.app.state.tokens
        if credentials is None or not credentials.credentials:
            raise _refused(401, "missing bearer token: send Authorization: Bearer <token>", "Bearer")
        token = authenticate(tokens, credentials.credentials)
        if token is None:
            raise _refused(401, "invalid bearer token", 'Bearer error="invalid_token"')
        if not token.allows(scope):
            raise _refused(
                403,
                f"the token {token.name!r} lacks the scope {scope.value!r}",
                f'Bearer error="insufficient_scope", scope="{scope.value}"',
            )
        return token

    return authorised


def _refused(status: int, reason: str, challenge: str) -> HTTPException:
    return HTTPException(status, detail=error_body(reason), headers={"WWW-Authenticate": challenge})
