"""PostgreSQL least privilege (migration 0004_roles): the permission matrix of crisis_reader and crisis_writer.

Each test logs in as a fresh LOGIN user that joins one group role, as deploy/postgres/roles.sql sets up.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
from psycopg.conninfo import conninfo_to_dict

from services.common.embedded_postgres import EmbeddedPostgres, postgres_bin_path
from services.common.settings import Settings
from services.projector.migrate import migrate
from tests.integration.test_query_api import start_query

LoginAs = Callable[[str], str]

WRITES = {
    "insert": "INSERT INTO projection_checkpoints (projection) VALUES ('intruder')",
    "update": "UPDATE projection_checkpoints SET last_seq = last_seq + 1",
    "delete": "DELETE FROM event_log",
    "create": "CREATE TABLE intruder (id int)",
}


PASSWORD = "pw-test"


def database_of(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


@pytest.fixture
def login_as(postgres_server: EmbeddedPostgres, database_url: str) -> Iterator[LoginAs]:
    """`login_as(group)`: the URL of a fresh LOGIN user in `group`, for this test's database; dropped afterwards."""
    admin = postgres_server.admin_url("postgres")
    users: list[str] = []

    def make(group: str) -> str:
        user = f"u_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}' IN ROLE {group}")
        users.append(user)
        return postgres_server.login_url(user, PASSWORD, database_of(database_url))

    yield make
    with psycopg.connect(database_url, autocommit=True) as conn:
        for user in users:
            conn.execute(f"DROP OWNED BY {user}")
    with psycopg.connect(admin, autocommit=True) as conn:
        for user in users:
            conn.execute(f"DROP ROLE {user}")


@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
def test_the_reader_may_read_and_nothing_else(login_as: LoginAs, statement: str) -> None:
    with psycopg.connect(login_as("crisis_reader")) as conn:
        conn.execute("SELECT count(*) FROM event_log").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_writer_writes_rows_but_creates_nothing(login_as: LoginAs) -> None:
    writer = login_as("crisis_writer")
    with psycopg.connect(writer, autocommit=True) as conn:
        for action in ("insert", "update", "delete"):
            conn.execute(WRITES[action])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(WRITES["create"])
        assert migrate(writer) == []  # the projector's start-up migrate is a no-op for it, not an error


def test_tables_created_by_later_migrations_are_covered(login_as: LoginAs, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute("CREATE TABLE later_read_model (id bigserial PRIMARY KEY, note text)")
    with psycopg.connect(login_as("crisis_writer"), autocommit=True) as writer:
        writer.execute("INSERT INTO later_read_model (note) VALUES ('projected')")
    with psycopg.connect(login_as("crisis_reader"), autocommit=True) as reader:
        assert reader.execute("SELECT note FROM later_read_model").fetchall() == [("projected",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("INSERT INTO later_read_model (note) VALUES ('forged')")


def test_an_owner_without_createrole_can_migrate(postgres_server: EmbeddedPostgres) -> None:
    owner = f"owner_{uuid.uuid4().hex[:10]}"
    database = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.admin_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN NOCREATEROLE PASSWORD '{PASSWORD}'")
        conn.execute(f'CREATE DATABASE "{database}" OWNER {owner}')
    try:
        url = postgres_server.login_url(owner, PASSWORD, database)
        assert "0004_roles" in migrate(url)
        assert migrate(url) == []  # and again: idempotent
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            conn.execute(f"DROP ROLE {owner}")


async def test_the_query_service_runs_as_the_reader(login_as: LoginAs, tmp_path: Path) -> None:
    async with start_query(Settings(database_url=login_as("crisis_reader"), data_dir=tmp_path)) as client:
        response = await client.get("/v1/incidents")
    assert response.status_code == 200


def test_the_deploy_script_creates_the_service_users(postgres_server: EmbeddedPostgres, database_url: str) -> None:
    """deploy/postgres/roles.sql, run by psql as the DBA would, gives crisis_query read-only access."""
    psql = postgres_bin_path() / "psql"
    script = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "roles.sql"
    admin = postgres_server.admin_url("postgres")
    args = ["-v", "ON_ERROR_STOP=1", "-v", "projector_password=pw-p", "-v", "query_password=pw-q"]
    try:
        for _ in range(2):  # idempotent
            subprocess.run([str(psql), admin, *args, "-f", str(script)], check=True, capture_output=True)
        with psycopg.connect(postgres_server.login_url("crisis_query", "pw-q", database_of(database_url))) as conn:
            conn.execute("SELECT count(*) FROM incidents")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(WRITES["delete"])
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS crisis_projector")
            conn.execute("DROP ROLE IF EXISTS crisis_query")
