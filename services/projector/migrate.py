"""Plain SQL migrations, applied in file-name order, each once, safe when several processes start at once."""

from __future__ import annotations

from importlib import resources

import psycopg
import structlog

from services.common.database import ANNOUNCE_READ_MODELS_CHANGED

log = structlog.get_logger(__name__)

# Any constant shared by every process that migrates this database: the advisory lock serialises them.
MIGRATION_LOCK_ID = 0x43524953  # "CRIS"


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("services.projector") / "migrations"
    files = sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), sql) for name, sql in files]


def migrate(database_url: str, until: str | None = None) -> list[str]:
    """Apply pending migrations (those up to `until` only, if given: an upgrade test's older database); returns
    the versions applied by this call."""
    applied: list[str] = []
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        # Checked first, because CREATE ... IF NOT EXISTS needs the CREATE privilege even when the table exists,
        # and a service role (crisis_writer) has none: it may start the projector once the owner has migrated.
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
            conn.execute(
                "CREATE TABLE schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            if until is not None and version > until:
                break
            conn.execute(sql.encode())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
            log.info("migration applied", version=version)
        if applied:  # a read may answer otherwise over the new schema: query services drop their cached answers
            conn.execute(ANNOUNCE_READ_MODELS_CHANGED)
    return applied
