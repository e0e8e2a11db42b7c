"""`statements`: what each speaker said, and observers' published findings, by speaker."""

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from schemas.events.observers import ObserverFindingsPublished
from schemas.events.political import StatementIssued
from services.projector.projection import Projection
from services.projector.read_models.versions import Version, Versions, insert_payload_rows

statements = Projection("statements", tables=("statements",))
versions = Versions(statements, "statements")


@versions.writer(StatementIssued)
async def write_statements(conn: AsyncConnection[Any], written: Sequence[Version]) -> None:
    await insert_payload_rows(conn, "statements", "speaker_id", written, lambda v: v.speaker.id)


@versions.writer(ObserverFindingsPublished)
async def write_findings(conn: AsyncConnection[Any], written: Sequence[Version]) -> None:
    await insert_payload_rows(conn, "statements", "speaker_id", written, lambda v: v.observer.id)
