"""Shared fixtures: a real nats-server and a real PostgreSQL per test session (per xdist worker), fresh names per test.

Both servers come from the project's own embedded launchers, on free loopback ports, and are stopped at the end.
Each test gets its own database (migrated) and its own stream name is not needed: tests use fresh incident ids,
and tests that need an empty stream purge it through the `stream` fixture.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import psycopg
import pytest
from nats.aio.client import Client
from pydantic import SecretStr

from services.common.embedded_nats import EmbeddedNats
from services.common.embedded_postgres import EmbeddedPostgres
from services.common.eventstream import ensure_stream
from services.common.settings import Settings
from services.projector.migrate import migrate

# The session's stream is emptied between tests (the `stream` fixture), and a test deletes one event: it is left
# unprotected (no deny_purge or deny_delete). The tests of that protection start servers of their own.
os.environ["CRISIS_STREAM_PROTECTED"] = "false"
# Ingest's key for derived event ids: every test ingest runs with it (ingest refuses to start without one).
EVENT_ID_SECRET = SecretStr(secrets.token_urlsafe(32))


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server
    server.stop()


@contextmanager
def fresh_database(server: EmbeddedPostgres, until: str | None = None) -> Iterator[str]:
    """A new, migrated database on `server` (only up to the migration `until`, if given), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = server.admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.admin_url(name)
    migrate(url, until)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, migrated database for this test, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def settings(nats_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        nats_url=nats_url,
        database_url=database_url,
        data_dir=tmp_path,
        event_id_secret=EVENT_ID_SECRET,
        projector_retry_delay_s=0.2,
    )


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc: Client, settings: Settings) -> AsyncIterator[None]:
    """The event stream, emptied, with no consumers left from other tests."""
    info = await ensure_stream(nc, settings)
    js = nc.jetstream()
    for consumer in await js.consumers_info(info.config.name or ""):
        await js.delete_consumer(info.config.name or "", consumer.name)
    await js.purge_stream(info.config.name or "")
    yield


def incident_id() -> str:
    """A fresh incident slug, so tests never see each other's events."""
    return f"test-{uuid.uuid4().hex[:10]}"
