"""One route answered straight from the middleware stack, past FastAPI's routing and request handling.

A single event is a small request, and most of its CPU went to the machinery around the endpoint: Starlette's
exception middleware and router, FastAPI's per-route wrappers, dependency solving and response model (together
about a quarter of single-event ingest's samples). `DirectRoute` answers the one method and path it is given with
a plain `Request -> Response` handler, and an exception the way the app's exception handlers would answer it.

The FastAPI route stays declared: it documents the operation in OpenAPI and answers what this does not take (the
same path with a trailing slash is redirected to it, another method is 405). Added inside `CorrelatedRequests`
(`add_middleware` before `install_common`), so every answer carries the correlation id and is counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]


class DirectRoute:
    def __init__(self, app: ASGIApp, method: str, path: str, handler: Handler) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await self.handler(request)
        except Exception as exc:
            answer = _exception_handler(request.app.exception_handlers, exc)
            if answer is None:
                raise  # CorrelatedRequests logs it and answers 500, as for any route
            response = await answer(request, exc)
        await response(scope, receive, send)


def _exception_handler(handlers: Mapping[Any, Any], exc: Exception) -> Any:
    """The app's handler for `exc`'s class or its nearest base, as Starlette's exception middleware looks it up.
    (The app registers no handler by status code, the middleware's other kind.)"""
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
