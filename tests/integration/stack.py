"""The three services in-process on the real nats-server and PostgreSQL: reports go in through ingest's HTTP API,
answers come out of the query HTTP API, the projector runs between them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from services.common.settings import Settings
from services.ingest.app import create_app as create_ingest
from services.projector.app import create_app as create_projector
from services.query.app import create_app as create_query
from tests.waiting import wait_until

TOKEN = secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Stack:
    ingest: httpx.AsyncClient
    query: httpx.AsyncClient

    async def post(self, *events: dict[str, Any]) -> list[int]:
        """Post reports as one batch; returns their stream sequences once every read model has applied them."""
        response = await self.ingest.post("/v1/events/batch", json={"events": list(events)})
        assert response.status_code == 202, response.text
        seqs = [result["seq"] for result in response.json()["results"]]
        await self.wait_for(max(seqs))
        return seqs

    async def wait_for(self, seq: int) -> None:
        await wait_until(
            lambda: self.query.get("/v1/incidents", params={"limit": 1}),
            lambda r: int(r.headers.get("X-Position", "0")) >= seq,
            what=f"the read models to reach {seq}",
        )

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.query.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@asynccontextmanager
async def running_stack(settings: Settings) -> AsyncIterator[Stack]:
    settings = settings.model_copy(update={"api_tokens": SecretStr(f"tester:{TOKEN}")})
    async with (
        LifespanManager(create_ingest(settings)) as ingest,
        LifespanManager(create_projector(settings)),
        LifespanManager(create_query(settings)) as query,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ingest.app),
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as ingest_client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=query.app), base_url="http://query") as query_client,
    ):
        yield Stack(ingest_client, query_client)
