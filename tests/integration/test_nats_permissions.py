"""NATS users for real: each service's user can do its job, and is refused what it must not do.

Every test runs twice: on deploy/nats/secure.conf as written (ports mapped to free loopback ports, store_dir
moved), and on the embedded nats-server of `crisis up`, which carries the same users (services/common/nats_users.py)
and passwords generated per data dir; both read the passwords from the server's environment. The real ingest and
projector run as their users end to end; then raw connections try every forbidden operation, and each one must fail
with a permissions violation naming its subject. The attacks of issue 10 (an anonymous client publishing a forged
event, purging the stream) fail too.
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
import nats.js.errors
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import ConsumerConfig
from pydantic import SecretStr

from schemas.subjects import STREAM_NAME
from services.common.embedded_nats import EmbeddedNats
from services.common.eventstream import ensure_stream
from services.common.kept_secret import new_secret
from services.common.nats_users import USERS, password_variable
from services.common.settings import Settings
from services.ingest.app import create_app as create_ingest
from services.projector.app import create_app as create_projector
from tests.conftest import EVENT_ID_SECRET, incident_id
from tests.factories import incident_opened
from tests.integration.test_nats_cluster import NATS_DIR, config_ports, free_ports, start_node
from tests.waiting import wait_until

SECURE_CONFIG = NATS_DIR / "secure.conf"
REFUSAL_TIMEOUT_S = 1.0
API_TOKEN = secrets.token_urlsafe(18)


@dataclass
class SecureNats:
    url: str
    passwords: dict[str, str]

    def settings(self, user: str, **update: Any) -> Settings:
        return Settings(nats_url=self.url, nats_user=user, nats_password=SecretStr(self.passwords[user]), **update)


def deploy_server(tmp_path: Path) -> Iterator[SecureNats]:
    # nats-server parses an environment value as a config value: a letter first keeps it a string.
    passwords = {user: f"pw-{secrets.token_hex(12)}" for user in USERS}
    text = SECURE_CONFIG.read_text()
    ports = dict(zip(config_ports(text), free_ports(len(config_ports(text))), strict=True))
    with pytest.MonkeyPatch.context() as env:  # the server reads the passwords from its environment
        for user, password in passwords.items():
            env.setenv(password_variable(user), password)
        node = start_node(SECURE_CONFIG, ports, tmp_path / "nats")
    try:
        yield SecureNats(node.url, passwords)
    finally:
        node.stop()


def embedded_server(tmp_path: Path) -> Iterator[SecureNats]:
    passwords = {user: new_secret() for user in USERS}
    with EmbeddedNats(tmp_path / "nats", sync_always=False, passwords=passwords) as server:
        yield SecureNats(server.url, passwords)


@pytest.fixture(params=[deploy_server, embedded_server], ids=["secure.conf", "embedded"])
def secure_nats(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecureNats]:
    yield from request.param(tmp_path)


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
        server.url,
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


@pytest.mark.parametrize("user", ["projector", "query", "subscriber"])
async def test_no_service_but_ingest_publishes_events(secure_nats: SecureNats, user: str) -> None:
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


async def test_a_subscriber_may_not_take_or_acknowledge_the_projectors_deliveries(secure_nats: SecureNats) -> None:
    """Deliveries taken from the projector's consumer wait ack_wait before anyone gets them again, and an ack
    (AckPolicy.ALL) skips everything before it: either would stall a projection. Listing consumers would name the
    replay's temporary ones."""
    async with connect(secure_nats, "projector") as projector:
        await ensure_stream(projector.client, secure_nats.settings("projector", stream_protected=True))
        await projector.client.jetstream().add_consumer(STREAM_NAME, ConsumerConfig(durable_name="projector-all"))
    async with connect(secure_nats, "subscriber") as conn:
        js = conn.client.jetstream(timeout=REFUSAL_TIMEOUT_S)
        stolen = await js.pull_subscribe_bind("projector-all", STREAM_NAME)
        await assert_refused(conn, stolen.fetch(1, timeout=REFUSAL_TIMEOUT_S), "$JS.API.CONSUMER.MSG.NEXT")
        forged_ack = conn.client.publish(f"$JS.ACK.{STREAM_NAME}.projector-all.1.100.100.0.0", b"+ACK")
        await assert_refused(conn, flushed(conn.client, forged_ack), "$JS.ACK")
        await assert_refused(conn, js.consumers_info(STREAM_NAME), "$JS.API.CONSUMER.LIST")
        await assert_refused(
            conn, js.add_consumer(STREAM_NAME, ConsumerConfig(durable_name="projector-all")), "$JS.API.CONSUMER"
        )
        await js.add_consumer(STREAM_NAME, ConsumerConfig(durable_name="its-own"))  # its job


async def flushed(client: Client, publish: Awaitable[None]) -> None:
    """Publish, then fail as the server's error arrives (a publish alone never reports one)."""
    await publish
    await client.flush()
    await wait_until(lambda: asyncio.sleep(0, client.last_error), bool, within=5, what="the server's refusal")
    raise nats.errors.Error(str(client.last_error))


async def test_an_anonymous_client_is_refused(secure_nats: SecureNats) -> None:
    """Issue 10: any local user published a forged event; now nobody gets in without a password."""
    anonymous = Client()
    try:
        with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
            await anonymous.connect(secure_nats.url, allow_reconnect=False, max_reconnect_attempts=0)
    finally:
        await anonymous.close()  # the refused connection's socket too


async def test_ingest_may_not_consume_as_the_projector(secure_nats: SecureNats) -> None:
    async with connect(secure_nats, "projector") as projector:
        await ensure_stream(projector.client, secure_nats.settings("projector", stream_protected=True))
        await projector.client.jetstream().add_consumer(STREAM_NAME, ConsumerConfig(durable_name="incidents"))
    async with connect(secure_nats, "ingest") as ingest:
        stolen = await ingest.client.jetstream(timeout=REFUSAL_TIMEOUT_S).pull_subscribe_bind("incidents", STREAM_NAME)
        await assert_refused(ingest, stolen.fetch(1, timeout=REFUSAL_TIMEOUT_S), "$JS.API.CONSUMER.MSG.NEXT")


async def test_the_purge_attack_fails_even_for_the_operator(secure_nats: SecureNats) -> None:
    """The stream is protected: ingest may not even ask, and the operator's purge or delete is refused by it."""
    async with connect(secure_nats, "ingest") as ingest:
        await ensure_stream(ingest.client, secure_nats.settings("ingest", stream_protected=True))
        await ingest.client.jetstream().publish("crisis.events.kept.IncidentOpened", b"{}")
        purge = ingest.client.request(f"$JS.API.STREAM.PURGE.{STREAM_NAME}", b"", timeout=REFUSAL_TIMEOUT_S)
        await assert_refused(ingest, purge, "$JS.API.STREAM.PURGE")
    async with connect(secure_nats, "operator") as operator:
        js = operator.client.jetstream()
        with pytest.raises(nats.js.errors.ServerError, match="purge not permitted"):
            await js.purge_stream(STREAM_NAME)
        with pytest.raises(nats.js.errors.ServerError, match="delete not permitted"):
            await js.delete_msg(STREAM_NAME, 1)
        assert (await js.stream_info(STREAM_NAME)).state.messages == 1


async def test_a_stream_created_unprotected_is_protected_at_the_next_start(secure_nats: SecureNats) -> None:
    """A stream from before the protection gets it, keeping its events; turning it off later cannot lift it."""
    async with connect(secure_nats, "operator") as operator:
        await operator.client.jetstream().add_stream(name=STREAM_NAME, subjects=["crisis.events.>"])
        await operator.client.jetstream().publish("crisis.events.old.IncidentOpened", b"{}")
    async with connect(secure_nats, "ingest") as ingest:
        protected = await ensure_stream(ingest.client, secure_nats.settings("ingest", stream_protected=True))
        assert (protected.config.deny_purge, protected.config.deny_delete, protected.state.messages) == (True, True, 1)
        again = await ensure_stream(ingest.client, secure_nats.settings("ingest", stream_protected=False))
        assert (again.config.deny_purge, again.config.deny_delete) == (True, True)
