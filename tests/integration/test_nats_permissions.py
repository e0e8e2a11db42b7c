"""deploy/nats/secure.conf run for real: each service's user can do its job, and is refused what it must not do.

The config is started as written (ports mapped to free loopback ports, store_dir moved), with the passwords in the
server's environment. The real ingest and projector run as their users end to end; then raw connections try
every forbidden operation, and each one must fail with a permissions violation naming its subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import warnings
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import ConsumerConfig
from pydantic import SecretStr

from schemas.subjects import STREAM_NAME
from services.common.settings import Settings
from services.ingest.app import create_app as create_ingest
from services.projector.app import create_app as create_projector
from tests.conftest import EVENT_ID_SECRET, incident_id
from tests.factories import incident_opened
from tests.integration.test_nats_cluster import NATS_DIR, Node, config_ports, free_ports, start_node
from tests.waiting import wait_until

SECURE_CONFIG = NATS_DIR / "secure.conf"
USERS = ("ingest", "projector", "subscriber", "operator")
REFUSAL_TIMEOUT_S = 1.0
API_TOKEN = secrets.token_urlsafe(18)


@dataclass
class SecureNats:
    node: Node
    passwords: dict[str, str]

    def settings(self, user: str, **update: Any) -> Settings:
        return Settings(nats_url=self.node.url, nats_user=user, nats_password=SecretStr(self.passwords[user]), **update)


@pytest.fixture
def secure_nats(tmp_path: Path) -> Iterator[SecureNats]:
    # nats-server parses an environment value as a config value: a letter first keeps it a string.
    passwords = {user: f"pw-{secrets.token_hex(12)}" for user in USERS}
    text = SECURE_CONFIG.read_text()
    ports = dict(zip(config_ports(text), free_ports(len(config_ports(text))), strict=True))
    with pytest.MonkeyPatch.context() as env:  # the server reads the passwords from its environment
        for user, password in passwords.items():
            env.setenv(f"CRISIS_NATS_{user.upper()}_PASSWORD", password)
        node = start_node(SECURE_CONFIG, ports, tmp_path / "nats")
    try:
        yield SecureNats(node, passwords)
    finally:
        node.stop()


@dataclass
class Connection:
    client: Client
    errors: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def connect(server: SecureNats, user: str, password: str | None = None) -> AsyncIterator[Connection]:
    errors: list[str] = []

    async def record(exc: Exception) -> None:
        errors.append(str(exc).lower())

    client = await nats.connect(
        server.node.url,
        user=user,
        password=password or server.passwords[user],
        error_cb=record,
        allow_reconnect=False,
    )
    try:
        yield Connection(client, errors)
    finally:
        await client.close()


async def assert_refused(conn: Connection, action: Awaitable[Any], subject: str) -> None:
    """`action` fails, and the server reports a permissions violation for `subject`."""
    with pytest.raises(nats.errors.Error):
        await action
    await wait_until(
        lambda: asyncio.sleep(0, conn.errors),
        lambda errors: any("permissions violation" in e and subject.lower() in e for e in errors),
        within=5,
        what=f"a permissions violation for {subject}",
    )


async def test_each_service_does_its_job_as_its_own_user(
    secure_nats: SecureNats, database_url: str, tmp_path: Path
) -> None:
    """Ingest (as `ingest`) publishes, conditionally too; the projector (as `projector`) projects it."""
    incident = incident_id()
    common: dict[str, Any] = {"database_url": database_url, "data_dir": tmp_path, "projector_batch_wait_s": 0.02}
    ingest_settings = secure_nats.settings(
        "ingest", api_tokens=SecretStr(f"tester:{API_TOKEN}"), event_id_secret=EVENT_ID_SECRET, **common
    )
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with (
        LifespanManager(create_ingest(ingest_settings)) as ingest,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ingest.app), base_url="http://ingest") as client,
    ):
        opened = await client.post("/v1/events", json=incident_opened(incident), headers=auth | {"If-Match": "0"})
        stale = await client.post("/v1/events", json=incident_opened(incident), headers=auth | {"If-Match": "0"})
    assert opened.status_code == 202, opened.json()
    assert stale.status_code == 409 and stale.json()["current_position"] == opened.json()["seq"]

    async with LifespanManager(create_projector(secure_nats.settings("projector", **common))):

        async def projected() -> int:
            async with await psycopg.AsyncConnection.connect(database_url) as conn:
                row = await (await conn.execute("SELECT count(*) FROM event_log")).fetchone()
                return int(row[0]) if row else 0

        await wait_until(projected, lambda n: n == 1, within=15, what="the event to be projected")


async def test_a_wrong_password_is_refused(secure_nats: SecureNats) -> None:
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        async with connect(secure_nats, "ingest", password="not-the-password"):
            pass
    # nats-py leaves the refused connection's socket for the garbage collector: collect it here, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


async def test_ingest_may_not_consume_subscribe_or_delete(secure_nats: SecureNats) -> None:
    async with connect(secure_nats, "operator") as operator:  # an empty stream to be refused against
        await operator.client.jetstream().add_stream(name=STREAM_NAME, subjects=["crisis.events.>"])
    async with connect(secure_nats, "ingest") as ingest:
        js = ingest.client.jetstream(timeout=REFUSAL_TIMEOUT_S)
        await assert_refused(
            ingest, js.add_consumer(STREAM_NAME, ConsumerConfig(name="sneaky")), "$JS.API.CONSUMER.CREATE"
        )
        await assert_refused(ingest, js.delete_stream(STREAM_NAME), "$JS.API.STREAM.DELETE")
        await assert_refused(ingest, js.purge_stream(STREAM_NAME), "$JS.API.STREAM.PURGE")
        await ingest.client.subscribe("crisis.events.>")
        await wait_until(
            lambda: asyncio.sleep(0, ingest.errors),
            lambda errors: any("permissions violation for subscription" in e for e in errors),
            within=5,
            what="the subscription to be refused",
        )


@pytest.mark.parametrize("user", ["projector", "subscriber", "operator"])
async def test_nobody_but_ingest_publishes_events(secure_nats: SecureNats, user: str) -> None:
    async with connect(secure_nats, "operator") as operator:
        await operator.client.jetstream().add_stream(name=STREAM_NAME, subjects=["crisis.events.>"])
    async with connect(secure_nats, user) as conn:
        js = conn.client.jetstream(timeout=REFUSAL_TIMEOUT_S)
        await assert_refused(conn, js.publish("crisis.events.forged.IncidentOpened", b"{}"), "crisis.events.forged")
    async with connect(secure_nats, "operator") as operator:
        assert (await operator.client.jetstream().stream_info(STREAM_NAME)).state.messages == 0


@pytest.mark.parametrize("user", ["projector", "subscriber"])
async def test_consumers_may_not_delete_or_purge_the_stream(secure_nats: SecureNats, user: str) -> None:
    async with connect(secure_nats, "operator") as operator:
        await operator.client.jetstream().add_stream(name=STREAM_NAME, subjects=["crisis.events.>"])
    async with connect(secure_nats, user) as conn:
        js = conn.client.jetstream(timeout=REFUSAL_TIMEOUT_S)
        await js.add_consumer(STREAM_NAME, ConsumerConfig(durable_name=f"{user}-allowed"))  # their job
        await assert_refused(conn, js.delete_stream(STREAM_NAME), "$JS.API.STREAM.DELETE")
        await assert_refused(conn, js.purge_stream(STREAM_NAME), "$JS.API.STREAM.PURGE")


async def test_a_subscriber_may_not_delete_consumers_or_declare_the_stream(secure_nats: SecureNats) -> None:
    async with connect(secure_nats, "operator") as operator:
        await operator.client.jetstream().add_stream(name=STREAM_NAME, subjects=["crisis.events.>"])
        await operator.client.jetstream().add_consumer(STREAM_NAME, ConsumerConfig(durable_name="projector-x"))
    async with connect(secure_nats, "subscriber") as conn:
        js = conn.client.jetstream(timeout=REFUSAL_TIMEOUT_S)
        await assert_refused(conn, js.delete_consumer(STREAM_NAME, "projector-x"), "$JS.API.CONSUMER.DELETE")
        await assert_refused(conn, js.update_stream(name=STREAM_NAME, subjects=["crisis.>"]), "$JS.API.STREAM.UPDATE")
