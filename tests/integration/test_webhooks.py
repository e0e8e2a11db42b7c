"""Webhooks on real servers: filtered, signed deliveries retried with backoff, failures given up and reported,
registrations with an unknown event type, plain HTTP or a private address refused, and a delivery to an address
that is not public refused too. The endpoints here are on loopback: the operator allows it explicitly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from nats.aio.client import Client
from typer.testing import CliRunner

from services.cli import app as cli
from services.cli.status import collect, render
from services.common.ports import free_port
from services.common.settings import Settings
from services.webhooks.delivery import WebhookWorker
from services.webhooks.signing import SIGNATURE_HEADER, verify
from tests.conftest import incident_id
from tests.factories import make_event, publish_args
from tests.stack import project, serve
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("stream")

SECRET = "a-shared-secret-of-some-length"


@dataclass
class Receiver:
    """An endpoint that fails its first `failures` requests with 500, then records and accepts."""

    failures: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        status = 500 if len(self.requests) <= self.failures else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def add_webhook(settings: Settings, *args: str) -> Any:
    env = {
        "CRISIS_DATABASE_URL": settings.database_url or "",
        "CRISIS_NATS_URL": settings.nats_url or "",
        "CRISIS_WEBHOOK_ALLOW_PRIVATE": str(settings.webhook_allow_private).lower(),
    }
    return CliRunner().invoke(cli, ["webhooks", "add", *args], env=env)


@asynccontextmanager
async def delivering(settings: Settings) -> AsyncIterator[None]:
    worker = WebhookWorker(settings)
    worker.start()
    try:
        yield
    finally:
        await worker.stop()


@pytest.fixture
def fast_retries(settings: Settings) -> Settings:
    """Quick retries, and endpoints on this machine allowed."""
    return settings.model_copy(
        update={
            "webhook_poll_s": 0.05,
            "webhook_retry_base_s": 0.05,
            "webhook_max_attempts": 4,
            "webhook_allow_private": True,
        }
    )


async def publish_and_project(settings: Settings, nc: Client, incident: str, event_type: str) -> str:
    event = make_event(incident, event_type)
    seq = (await nc.jetstream().publish(**publish_args(event))).seq
    await project(settings.database_url or "", nc, seq)
    return str(event.event_id)


async def test_matching_events_are_delivered_signed_after_retries(fast_retries: Settings, nc: Client) -> None:
    settings, incident = fast_retries, incident_id()
    receiver = Receiver(failures=2)
    async with serve(receiver) as endpoint:
        added = add_webhook(
            settings, endpoint.url, "--secret", SECRET, "--incident", incident, "--type", "ResultsAnnulled"
        )
        assert added.exit_code == 0, added.output
        wanted = await publish_and_project(settings, nc, incident, "ResultsAnnulled")
        await publish_and_project(settings, nc, incident, "StatementIssued")  # another type
        await publish_and_project(settings, nc, incident_id(), "ResultsAnnulled")  # another incident
        async with delivering(settings):

            async def delivered() -> int:
                return len(receiver.requests) - receiver.failures

            await wait_until(delivered, lambda n: n >= 1, within=10, what="the delivery")
            status = await collect(settings)

    assert len(receiver.requests) == 3  # two failures, then the success: nothing else matched
    headers, body = receiver.requests[-1]
    assert json.loads(body)["event_id"] == wanted == headers["x-crisis-event-id"]
    assert headers["x-crisis-attempt"] == "3"
    assert verify(SECRET, body, headers[SIGNATURE_HEADER.lower()])
    assert not verify("another secret", body, headers[SIGNATURE_HEADER.lower()])
    [hook] = status.webhooks
    assert (hook.delivered, hook.pending, hook.failed) == (1, 0, 0)


async def test_the_http_client_is_made_for_the_first_delivery_and_not_before(
    fast_retries: Settings, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A projector without webhooks never loads a CA bundle or an HTTP transport (tens of ms of CPU at its start)."""
    settings, made = fast_retries, 0
    client = httpx.AsyncClient

    def counted(**options: Any) -> httpx.AsyncClient:
        nonlocal made
        made += 1
        return client(**options)

    monkeypatch.setattr(httpx, "AsyncClient", counted)  # nothing else here makes one
    receiver, worker = Receiver(), WebhookWorker(settings)
    async with (
        serve(receiver) as endpoint,
        await psycopg.AsyncConnection.connect(settings.database_url or "", autocommit=True) as conn,
    ):
        try:
            await publish_and_project(settings, nc, incident_id(), "ResultsAnnulled")
            unregistered = await worker.deliver_due(conn)
            made_before = made
            added = add_webhook(settings, endpoint.url, "--secret", SECRET)
            assert added.exit_code == 0, added.output
            await publish_and_project(settings, nc, incident_id(), "ResultsAnnulled")
            await publish_and_project(settings, nc, incident_id(), "StatementIssued")
            attempted = [await worker.deliver_due(conn) for _ in range(3)]
        finally:
            await worker.stop()

    assert (unregistered, made_before) == (0, 0)
    assert attempted == [2, 0, 0]
    assert made == 1  # one client for every delivery after it
    assert len(receiver.requests) == 2


async def test_an_endpoint_that_keeps_failing_is_given_up_and_shown_in_status(
    fast_retries: Settings, nc: Client
) -> None:
    settings, incident = fast_retries, incident_id()
    dead_url = f"http://127.0.0.1:{free_port()}/hook"
    assert add_webhook(settings, dead_url, "--secret", SECRET, "--incident", incident).exit_code == 0
    await publish_and_project(settings, nc, incident, "StatementIssued")
    async with delivering(settings):

        async def failed() -> int:
            return (await collect(settings)).webhooks[0].failed

        await wait_until(failed, lambda n: n == 1, within=15, what="the delivery to be given up")
    shown = render(await collect(settings))
    assert dead_url in shown and "last error: ConnectError" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://example.org/hook", "--type", "ResultsAnnuled"], "unknown event type 'ResultsAnnuled'; known types:"),
        (["http://example.org/hook"], "webhooks must use HTTPS"),
        (["https://169.254.169.254/latest/meta-data"], "resolves to 169.254.169.254, a link-local address"),
        (["https://10.1.2.3/hook"], "resolves to 10.1.2.3, a private address"),
        (["https://192.168.0.10:8443/hook"], "resolves to 192.168.0.10, a private address"),
        (["https://[::ffff:169.254.169.254]/hook"], "resolves to ::ffff:a9fe:a9fe, a link-local address"),
        (["http://localhost:8080/hook"], "a loopback address: webhooks go to public addresses only"),
        (["https://[::1]/hook"], "resolves to ::1, a loopback address"),
    ],
)
def test_a_bad_registration_is_refused_with_a_clear_message(settings: Settings, args: list[str], message: str) -> None:
    result = add_webhook(settings, *args, "--secret", SECRET)
    assert result.exit_code == 2
    assert message in result.output


async def test_a_delivery_to_an_address_that_is_not_public_is_refused(fast_retries: Settings, nc: Client) -> None:
    """Registered while the operator allowed it; the worker, without the setting, checks again and refuses."""
    incident, receiver = incident_id(), Receiver()
    async with serve(receiver) as endpoint:
        assert add_webhook(fast_retries, endpoint.url, "--secret", SECRET, "--incident", incident).exit_code == 0
        await publish_and_project(fast_retries, nc, incident, "StatementIssued")
        strict = fast_retries.model_copy(update={"webhook_allow_private": False})
        async with delivering(strict):

            async def failed() -> int:
                return (await collect(strict)).webhooks[0].failed

            await wait_until(failed, lambda n: n == 1, within=15, what="the delivery to be given up")
        shown = render(await collect(strict))
    assert receiver.requests == []
    assert "refused: '127.0.0.1' resolves to 127.0.0.1, a loopback address" in shown
