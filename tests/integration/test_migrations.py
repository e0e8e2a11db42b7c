"""Migrations upgrade a database that already holds events, and leave it as a fresh one is made."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from schemas.catalogue import payload_class
from schemas.envelope import Event, event_class
from services.cli.up import DEMO_SCENARIOS
from services.common.embedded_postgres import EmbeddedPostgres
from services.demo.loader import scenario_events
from services.projector.migrate import migrate
from services.projector.projection import Position
from services.projector.read_models.event_log import event_log
from tests.conftest import fresh_database, incident_id
from tests.factories import make_event, subject_of

BEFORE_LEAN_EVENT_LOG = "0012_export_speed"


@pytest.fixture
def old_database_url(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """A database migrated only up to BEFORE_LEAN_EVENT_LOG, dropped afterwards."""
    with fresh_database(postgres_server, until=BEFORE_LEAN_EVENT_LOG) as url:
        yield url


def indexes(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'event_log'").fetchall()
    return dict(rows)


def matches(url: str, text: str) -> list[uuid.UUID]:
    with psycopg.connect(url) as conn:
        query = "SELECT event_id FROM event_log WHERE search @@ websearch_to_tsquery('crisis_search', %s)"
        return [row[0] for row in conn.execute(query, (text,))]


async def log(url: str, *events: Event[Any]) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        batch = [(event, Position(seq, subject_of(event))) for seq, event in enumerate(events, 1)]
        await event_log.apply_all(conn, batch)


async def test_lean_event_log_upgrade_recomputes_the_search_of_stored_events(
    old_database_url: str, database_url: str
) -> None:
    incident = incident_id()
    stored = make_event(incident, "StatementIssued", quote="The curfew is lifted in Osh.")
    await log(old_database_url, stored)
    # before: the envelope's ids and times were searchable too
    assert matches(old_database_url, str(stored.event_id)) == [stored.event_id]

    assert migrate(old_database_url, until="0013_lean_event_log") == ["0013_lean_event_log"]

    # the stored event's vector is recomputed: found by its payload and source, not by its id or incident
    assert matches(old_database_url, "curfew Osh") == [stored.event_id]
    assert matches(old_database_url, '"test wire"') == [stored.event_id]
    assert matches(old_database_url, str(stored.event_id)) == []
    assert matches(old_database_url, incident) == []
    # the upgraded table has exactly a fresh database's indexes
    assert indexes(old_database_url) == indexes(database_url)
    assert {"event_log_source_kind", "event_log_source", "event_log_type"}.isdisjoint(indexes(database_url))
    assert "event_log_timeline_type" in indexes(database_url)


BEFORE_SEARCH_FROM_STRINGS = "0014_read_model_announcements"


def words_and_text(url: str, event_id: uuid.UUID) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT strip(search)::text, event_text(envelope) FROM event_log WHERE event_id = %s", (event_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_search_from_strings_keeps_every_word_and_each_phrase_within_its_value(
    postgres_server: EmbeddedPostgres,
) -> None:
    recorded = datetime.now(UTC)
    demo = [
        event_class(payload_class(e["type"])).model_validate({**e, "recorded_at": recorded})
        for name in DEMO_SCENARIOS
        for e in scenario_events(name)
    ]
    quote = "The curfew is lifted in Osh."
    stored = make_event(incident_id(), "StatementIssued", quote=quote)
    with fresh_database(postgres_server, until=BEFORE_SEARCH_FROM_STRINGS) as url:
        await log(url, stored, *demo)
        before = {event.event_id: words_and_text(url, event.event_id) for event in [stored, *demo]}
        # the word after the quote in the joined text: the start of the next string of the envelope
        following = before[stored.event_id][1].split(quote, 1)[1].split()[0]
        across = f'"lifted in Osh {following}"'
        assert matches(url, across) == [stored.event_id]

        assert migrate(url) == ["0015_search_from_strings"]

        # every stored event keeps every word of its vector, and its snippet's text
        assert {event_id: words_and_text(url, event_id) for event_id in before} == before
        assert matches(url, '"lifted in Osh"') == [stored.event_id]
        assert matches(url, across) == []  # a phrase no longer runs on into the next value
        assert matches(url, f"Osh {following}") == [stored.event_id]
