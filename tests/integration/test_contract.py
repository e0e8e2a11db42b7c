"""schemathesis against both OpenAPI documents, with real servers behind the apps (NATS for ingest, PostgreSQL for
query), with schemathesis' default checks: no server errors, every response as documented (status, headers,
content type, body schema), invalid input refused, and the bearer token enforced (missing or bad: refused).

Each app is served by uvicorn on a free loopback port in a thread, and schemathesis calls it over HTTP.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.common.embedded_postgres import EmbeddedPostgres
from services.common.ports import free_port
from services.common.settings import Settings
from services.ingest.app import create_app as create_ingest
from services.projector.migrate import migrate
from services.query.app import create_app as create_query
from tests.conftest import EVENT_ID_SECRET

TOKEN = secrets.token_urlsafe(18)
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # the query document is no more public than its data
EXAMPLES = 60  # per operation: enough to reach every documented status, small enough for CI
START_TIMEOUT_S = 15.0
# Thousands of generated requests per document: the query document's run took over 300 s (the suite's default
# timeout, a hang guard) with two suites and four benchmarks on two cores. Still a bound, not a wait.
pytestmark = pytest.mark.timeout(1200)


def serve(app: FastAPI) -> Iterator[str]:
    """`app` on a free loopback port until the generator is closed; yields its base URL."""
    # log_config=None: uvicorn's default config would stop its loggers propagating for the rest of the session.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None))
    thread = threading.Thread(target=server.run, name="contract-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)  # waiting for another thread's flag: a bounded poll
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def ingest_url(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        nats_url=nats_url,
        data_dir=tmp_path_factory.mktemp("ingest"),
        api_tokens=SecretStr(f"contract:{TOKEN}"),
        event_id_secret=EVENT_ID_SECRET,
        write_rate_limit="100000/second",
    )
    yield from serve(create_ingest(settings))


@pytest.fixture(scope="module")
def query_url(postgres_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(postgres_server.admin_url(name))
    settings = Settings(
        database_url=postgres_server.admin_url(name),
        data_dir=tmp_path_factory.mktemp("query"),
        api_tokens=SecretStr(f"contract:{TOKEN}"),
        query_public=False,  # so that the token is part of the contract under test
        min_position_wait_s=0,  # no projector runs here: a generated min_position would wait its bound every call
    )
    yield from serve(create_query(settings))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


CONTRACT = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # every run explores afresh; nothing is written to .hypothesis
    suppress_health_check=list(HealthCheck),
)


def fits_a_query_string(case: Any) -> bool:
    """False for an invalid case holding the text `true` or `false` in its query: schemathesis writes a boolean so,
    and a string parameter may rightly take that text (`?incident=true` names an incident called true), yet it
    wanted such cases refused (the slugs `incident`, `location`: about one run in eight failed so). No read or write
    takes a boolean in its query. Only invalid cases are filtered, and few: for any other parameter that text is one
    of many invalid values tried."""
    values = [v for value in (case.query or {}).values() for v in (value if isinstance(value, list) else [value])]
    return not any(value in ("true", "false") for value in values)


# The headers that frame an HTTP message. A mutation of an operation's headers may add any name: a GET carrying
# `content-length: "bO` is refused by the HTTP protocol before any app sees it (tests/unit/test_http_protocol.py
# holds that answer to the document), and a well-formed but false length would leave the generator's kept-alive
# connection out of step with the server, failing the cases after it.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def leaves_the_framing_alone(case: Any) -> bool:
    """False for an invalid case that sets a framing header: the message, not the API, is then under test."""
    return not any(name.lower() in FRAMING_HEADERS for name in case.headers or {})


def check_contract(document_url: str) -> None:
    """Every operation, with data that fits the document and data that does not, under the default checks.

    All but `positive_data_acceptance` ("schema-valid data gets 2xx"): ingest enforces rules that JSON Schema
    cannot state (no timestamp in the future, no control characters, lat with lon, min <= max), so schema-valid
    data may rightly be refused with 422 (documented, with the same error body as every 422).
    """
    # The token goes through the document's own security scheme, so schemathesis also tries without it, and bad.
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"HTTPBearer": {"bearer": TOKEN}}}})
    schema = schemathesis.openapi.from_url(document_url, config=config, headers=AUTH)
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result!r}"
        operation = result.ok()
        if operation.path.endswith("/live"):
            continue  # an event stream never ends, so no call returns; tests/integration/test_live_feed.py covers it
        for mode in GenerationMode:
            cases = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.NEGATIVE:
                cases = cases.filter(fits_a_query_string).filter(leaves_the_framing_alone)

            @given(case=cases)
            @CONTRACT
            def call(case: Any) -> None:
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            try:
                call()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid ones


def test_ingest_keeps_its_contract(ingest_url: str) -> None:
    check_contract(f"{ingest_url}/openapi.json")


def test_query_keeps_its_contract(query_url: str) -> None:
    check_contract(f"{query_url}/openapi.json")
