"""The bench's HTTP client: every request it makes may be sent again, so a dropped connection is retried.

On a saturated 2-core machine the services' uvicorn was seen closing a kept-alive connection without answering
the request just sent on it (likely its keep-alive timer firing before it read the request). A reader retries a
GET; a write is safe to retry because every event carries its id, which ingest turns into the stream's
deduplication key. Retries are counted and reported, so they cannot hide.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

TIMEOUT_S = 60.0
ATTEMPTS = 3  # dropped twice in a row was seen, under load 8 on 2 cores


@dataclass
class Retries:
    count: int = 0


class Retrying(httpx.AsyncBaseTransport):
    def __init__(self, retries: Retries) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None, max_keepalive_connections=None))
        self.retries = retries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(ATTEMPTS - 1):
            try:
                return await self.inner.handle_async_request(request)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                self.retries.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def client(token: str, retries: Retries) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=TIMEOUT_S, headers={"Authorization": f"Bearer {token}"}, transport=Retrying(retries)
    )
