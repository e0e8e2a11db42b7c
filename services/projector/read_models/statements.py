"""`statements`: what each speaker said, and observers' published findings, by speaker."""

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from schemas.envelope import Event
from schemas.events.observers import ObserverFindingsPublished
from schemas.events.political import StatementIssued
from services.projector.projection import Position, Projection
from services.projector.read_models.versions import Versions, insert_payload_row

statements = Projection("statements", tables=("statements",))
versions = Versions(statements, "statements")


@versions.writer(StatementIssued)
async def write_statement(
    conn: AsyncConnection[Any], event: Event[Any], values: StatementIssued, version_of: UUID, pos: Position
) -> None:
    await insert_payload_row(conn, "statements", ("speaker_id", values.speaker.id), event, values, version_of, pos)


@versions.writer(ObserverFindingsPublished)
async def write_findings(
    conn: AsyncConnection[Any], event: Event[Any], values: ObserverFindingsPublished, version_of: UUID, pos: Position
) -> None:
    await insert_payload_row(conn, "statements", ("speaker_id", values.observer.id), event, values, version_of, pos)
