"""CRISIS_QUERY_PUBLIC=false: the data, /metrics and the API's documents all want a token with events:read.

Only the probes (/healthz, /readyz) stay open. With the default (public), /metrics answers without a token.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.common.settings import Settings
from tests.integration.test_query_api import start_query

READER, WRITER = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
GUARDED = ("/v1/incidents", "/metrics", "/openapi.json", "/docs", "/redoc")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def private(database_url: str, tmp_path: Path) -> Settings:
    tokens = f"reader:{READER}:events:read,writer:{WRITER}:events:write"
    return Settings(database_url=database_url, data_dir=tmp_path, query_public=False, api_tokens=SecretStr(tokens))


@pytest.mark.parametrize("path", GUARDED)
async def test_a_private_query_service_wants_the_read_token_everywhere(
    database_url: str, tmp_path: Path, path: str
) -> None:
    async with start_query(private(database_url, tmp_path)) as client:
        anonymous = await client.get(path)
        writer = await client.get(path, headers=bearer(WRITER))
        reader = await client.get(path, headers=bearer(READER))
    assert anonymous.status_code == 401 and "missing bearer token" in anonymous.json()["error"]
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert writer.status_code == 403 and "events:read" in writer.json()["error"]
    assert reader.status_code == 200


async def test_a_private_query_service_leaves_the_probes_open_and_documents_the_refusals(
    database_url: str, tmp_path: Path
) -> None:
    async with start_query(private(database_url, tmp_path)) as client:
        probes = [(await client.get(path)).status_code for path in ("/healthz", "/readyz")]
        document = (await client.get("/openapi.json", headers=bearer(READER))).json()
    assert probes == [200, 200]
    assert {"401", "403"} <= set(document["paths"]["/metrics"]["get"]["responses"])


async def test_a_public_query_service_serves_metrics_without_a_token(database_url: str, tmp_path: Path) -> None:
    async with start_query(Settings(database_url=database_url, data_dir=tmp_path)) as client:
        assert (await client.get("/metrics")).status_code == 200
