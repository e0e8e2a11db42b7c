"""What the read API's OpenAPI document says of its answers' headers, which FastAPI cannot see: the routes set them
(X-Position, X-Stale) or the answer cache does (ETag, and the 304 to If-None-Match), outside any response model.

Not marked required: a client reads that they are there from docs/http-api.md, and a test on the real stack asks
every read for its X-Position (tests/integration/test_read_your_writes.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.query.cached_answers import cacheable_path
from services.query.freshness import POSITION_HEADER, STALE_HEADER

_POSITION = {
    "description": "The stream sequence the read models had applied when the answer was read (read-your-writes: "
    "an answer with X-Position >= N reflects the write at N).",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
_STALE = {
    "description": "`true` when min_position was not reached within CRISIS_MIN_POSITION_WAIT_S: the answer is what "
    "the read models held then.",
    "schema": {"type": "string", "enum": ["true"]},
}
_ETAG = {
    "description": "A strong validator of the body, when the answer cache is on (CRISIS_QUERY_CACHE_MB > 0): send it "
    "back as If-None-Match for a 304 while the read models have not changed.",
    "schema": {"type": "string"},
}
_NOT_MODIFIED = {
    "description": "Not Modified: If-None-Match named this answer's ETag, and the read models have not changed since.",
    "headers": {POSITION_HEADER: _POSITION, "ETag": _ETAG},
}


def document_read_headers(app: FastAPI) -> None:
    """Add the read answers' headers to the app's document (built once, by the app's own `openapi`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        for path, operations in document.get("paths", {}).items():
            read = operations.get("get")
            if read is None or not path.startswith("/v1/") or path.endswith("/live"):
                continue
            headers = read["responses"]["200"].setdefault("headers", {})
            headers |= {POSITION_HEADER: _POSITION, STALE_HEADER: _STALE}
            if cacheable_path(path):
                headers["ETag"] = _ETAG
                read["responses"].setdefault("304", _NOT_MODIFIED)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
