"""One route answered straight from the app's ASGI entry, past Starlette's and FastAPI's middleware, routing and
request handling.

A single event is a small request, and most of its CPU went to the machinery around the endpoint: Starlette's
exception middleware and router, FastAPI's per-route wrappers, dependency solving and response model (together
about a quarter of single-event ingest's samples), then the middleware stack in front of them (Starlette's error
middleware, FastAPI's telemetry and body limit: 20 of 204 us of a request's CPU in process, docs/performance.md).
`AppWithDirectRoute` answers the one method and path it is given with a plain `Request -> Response` handler, inside
`CorrelatedRequests` alone (every answer carries the correlation id and is counted, an unhandled error is a plain
500), and an exception the way the app's exception handlers would answer it.

The FastAPI route stays declared: it documents the operation in OpenAPI and answers what this does not take (the
same path with a trailing slash is redirected to it, another method is 405).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.http import CorrelatedRequests

Handler = Callable[[Request], Awaitable[Response]]


class AppWithDirectRoute(FastAPI):
    direct_route: tuple[str, str, ASGIApp] | None = None  # method, path, and what answers them

    def answer_directly(self, method: str, path: str, handler: Handler, service: str) -> None:
        self.direct_route = (method, path, CorrelatedRequests(_Answer(handler), service))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.direct_route
        if route is not None and scope["type"] == "http" and scope["path"] == route[1] and scope["method"] == route[0]:
            scope["app"] = self  # as Starlette sets it: what `request.app` reads
            await route[2](scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _Answer:
    """The handler as an ASGI app, its exceptions answered by the app's exception handlers."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
