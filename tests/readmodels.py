"""Every read model's rows, for comparing a database with a rebuild from scratch."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from services.projector.read_models import PROJECTIONS


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each read-model table's rows, in a canonical order."""
    tables = [table for projection in PROJECTIONS.values() for table in projection.tables]
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(sql.SQL("SELECT * FROM {} t ORDER BY t::text").format(sql.Identifier(table))).fetchall()
            for table in tables
        }
