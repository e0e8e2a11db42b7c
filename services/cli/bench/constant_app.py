"""The query service's HTTP stack (FastAPI on uvicorn) answering every GET with one constant body.

`crisis bench` serves it beside the query service to measure what HTTP alone costs for a page of the same size.
Run by uvicorn as a factory: `uvicorn --factory services.cli.bench.constant_app:create_app`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

BODY_FILE_VARIABLE = "BENCH_CONSTANT_BODY_FILE"


def create_app() -> FastAPI:
    body = Path(os.environ[BODY_FILE_VARIABLE]).read_bytes()
    app = FastAPI()

    @app.get("/{path:path}")
    async def constant(path: str) -> Response:
        return Response(content=body, media_type="application/json")

    return app
