"""What every HTTP service shares: correlation ids, health and readiness, metrics, and errors as clear JSON.

A client never sees a stack trace: validation problems are 422 with the location of each error, a dependency
that is down is 503 with Retry-After, and anything unexpected is logged here and answered with a plain 500 body.
A client that leaves before its request is read is not an error of ours: it is logged at info, counted as 499.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.logging import CORRELATION_HEADER, bind_correlation_id
from services.common.shared_metrics import counter_child, exposition

log = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]  # raises when its dependency is not ready

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request its client abandoned; nobody receives it

HTTP_REQUESTS = Counter("crisis_http_requests_total", "HTTP requests answered", ["service", "status"])


class Unavailable(Exception):
    """A dependency (NATS, PostgreSQL) is down or too slow: the client should retry later."""

    def __init__(self, reason: str, retry_after_s: int = 2) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def error_body(error: str, details: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error}
    if details is not None:
        body["details"] = list(details)
    return body


def validation_details(errors: Sequence[Any], prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """pydantic errors as {loc, msg, type}: loc is the path to the offending field, e.g. ["body", 3, "data"]."""
    return [{"loc": [*prefix, *e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


def first_header(scope: Scope, name: str) -> str | None:
    """The request's first `name` header, as Starlette's `Headers.get` reads it, without building `Headers` or, for
    a header the request does not carry (most carry no correlation id, Idempotency-Key or If-Match), raising and
    catching a KeyError."""
    key = name.lower().encode("latin-1")  # as ASGI servers give header names
    return next((value.decode("latin-1") for raw, value in scope["headers"] if raw == key), None)


class CorrelatedRequests:
    """Pure ASGI middleware: binds each request's correlation id (its header, else a new one) to the request and
    the log, echoes it on the response, counts the response, and answers an unhandled error with a plain 500.

    Not `@app.middleware("http")` (Starlette's BaseHTTPMiddleware): that wraps every request in task groups and
    memory streams, a measured share of single-event ingest's time."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = first_header(scope, CORRELATION_HEADER) or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = cid  # what request.state.correlation_id reads
        bind_correlation_id(cid)
        started = False

        async def send_correlated(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[CORRELATION_HEADER] = cid
                counter_child(HTTP_REQUESTS, self.service, str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, send_correlated)
        except ClientDisconnect:
            log.info("client disconnected before its request was read", path=scope["path"])
            if not started:
                await Response(status_code=CLIENT_CLOSED_REQUEST)(scope, receive, send_correlated)
        except Exception:  # an unhandled error: log it with its trace, tell the client nothing about it
            log.exception("unhandled error", path=scope["path"])
            if started:
                raise  # the response is under way: nothing else can be said; the server cuts it short
            error = JSONResponse(error_body("internal error; see the server log", None), status_code=500)
            await error(scope, receive, send_correlated)


def install_common(app: FastAPI, service: str, checks: dict[str, ReadinessCheck]) -> None:
    app.add_middleware(CorrelatedRequests, service=service)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid request", validation_details(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else error_body(str(exc.detail))
        return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        log.warning("dependency unavailable", reason=exc.reason)
        return JSONResponse(
            error_body(f"service unavailable: {exc.reason}"),
            status_code=503,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (liveness)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "A dependency does not answer"}})
    async def readyz() -> JSONResponse:
        """Every dependency answers (readiness); 503 names the ones that do not."""
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"unavailable: {exc}"
        ready = all(v == "ok" for v in results.values())
        if ready:
            return JSONResponse({"ready": True, "checks": results})
        return JSONResponse({"ready": False, "checks": results}, status_code=503, headers={"Retry-After": "2"})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
