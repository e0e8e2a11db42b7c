"""The OpenAPI document each service serves, made to tell the truth about errors.

FastAPI documents its own 422 body (`HTTPValidationError`, `{"detail": [...]}`), but every error here is answered
as `ErrorBody` (`{"error": ..., "details": [...]}`, see http.py): every 422 is rewritten to say so, every operation
documents the 400 that a malformed request gets, and services can add schemas of their own (ingest's request
bodies, which it reads by hand).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

ERROR_REF = "#/components/schemas/ErrorBody"
MALFORMED: dict[str, Any] = {
    "description": "Not a valid HTTP request (a malformed header, say): refused before it reaches the API",
    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
}


class ErrorBody(BaseModel):
    error: str
    details: list[dict[str, Any]] | None = None


def error_response(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


def install_openapi(app: FastAPI, extra_schemas: dict[str, Any] | None = None) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas |= (extra_schemas or {}) | {"ErrorBody": ErrorBody.model_json_schema()}
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    # uvicorn answers a request that is not valid HTTP before any route (http_protocol.py).
                    operation.setdefault("responses", {}).setdefault("400", MALFORMED)
                    if "422" in operation["responses"]:
                        operation["responses"]["422"] = {
                            "description": "Invalid request: `details` locates each error",
                            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                        }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
