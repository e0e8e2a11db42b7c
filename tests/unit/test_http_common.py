"""What every HTTP service shares (services/common/http.py), on a small app: correlation ids and a plain 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from services.common.http import install_common
from services.common.logging import CORRELATION_HEADER


def small_app() -> FastAPI:
    app = FastAPI()
    install_common(app, "test", checks={})

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str]:
        return {"correlation_id": request.state.correlation_id}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a secret detail")

    return app


async def get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=small_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_the_correlation_id_given_reaches_the_handler_and_comes_back() -> None:
    response = await get("/echo", {CORRELATION_HEADER: "abc-123"})
    assert response.json() == {"correlation_id": "abc-123"}
    assert response.headers[CORRELATION_HEADER] == "abc-123"


async def test_a_request_without_one_gets_a_fresh_one_on_both_sides() -> None:
    first, second = await get("/echo"), await get("/echo")
    assert first.headers[CORRELATION_HEADER] == first.json()["correlation_id"]
    assert first.headers[CORRELATION_HEADER] != second.headers[CORRELATION_HEADER]


async def test_an_unhandled_error_is_a_plain_500_with_its_correlation_id() -> None:
    response = await get("/broken", {CORRELATION_HEADER: "err-1"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error; see the server log"}
    assert "secret" not in response.text
    assert response.headers[CORRELATION_HEADER] == "err-1"
