"""The PostgreSQL users the services of `crisis up` log in as: least privilege, each with its own password.

Migration 0004 gives the group roles their rights (crisis_writer: rows; crisis_reader: reads only); each service
gets a LOGIN user in one of them, as deploy/postgres/roles.sql does for a DBA. Only migrations and operator
commands use the database's owner.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class ServiceRole:
    user: str
    group: str


SERVICE_ROLES = {
    "projector": ServiceRole("crisis_projector", "crisis_writer"),
    "query": ServiceRole("crisis_query", "crisis_reader"),
}


def ensure_login(admin_url: str, role: ServiceRole, password: str) -> None:
    """Create `role.user` in its group if missing; (re)set its password, so that the kept file is the truth."""
    user, group = sql.Identifier(role.user), sql.Identifier(role.group)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.user,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(user))
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(user, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(group, user))
