"""Trends' casualty figures are read as a stream of chunks and folded a chunk's complete buckets at a time: the
answer is the fold of every row at once, wherever the chunks cut a bucket (real PostgreSQL, the projector's rows)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import args_row, dict_row

from services.common.embedded_postgres import EmbeddedPostgres
from services.query import trend_views
from services.query.selection import Selection
from services.query.trend_views import BucketFigureRow, GroupBy
from tests.conftest import fresh_database, incident_id
from tests.integration.test_set_based_writes import apply_in_batches, messages

T0 = datetime(2020, 9, 28, tzinfo=UTC)  # a Monday: week buckets start there
SOURCES = [("Ministry", "government"), ("OSCE", "international_org"), ("Kloop", "ngo"), ("Wire", "media")]


def reports(rng: random.Random) -> list[dict[str, Any]]:
    """Three incidents' casualty reports over ten weeks, a few a week from several sources, some corrected and
    some retracted."""
    events: list[dict[str, Any]] = []
    for incident in (incident_id(), incident_id(), incident_id()):
        for _ in range(rng.randint(15, 25)):
            name, kind = rng.choice(SOURCES)
            events.append({
                "event_id": str(uuid.uuid4()), "type": "CasualtiesReported", "incident_id": incident,
                "occurred_at": (T0 + timedelta(hours=rng.randrange(24 * 70))).isoformat(),
                "source": {"name": name, "kind": kind},
                "location": {"name": "Bishkek", "country": "KG"},
                "data": {"figures": [{"category": rng.choice(["killed", "injured"]),
                                      "count": {"value": rng.randint(1, 50)}}]},
            })  # fmt: skip
    for target in rng.sample(events, 6):
        events.append({
            "event_id": str(uuid.uuid4()), "type": "ReportCorrected", "incident_id": target["incident_id"],
            "occurred_at": target["occurred_at"], "source": target["source"],
            "data": {"corrects": target["event_id"], "corrected_type": "CasualtiesReported", "reason": "recounted",
                     "replacement": {"figures": [{"category": "killed", "count": {"value": rng.randint(1, 50)}}]}},
        })  # fmt: skip
    for target in rng.sample(events[:-6], 4):
        events.append({
            "event_id": str(uuid.uuid4()), "type": "ReportRetracted", "incident_id": target["incident_id"],
            "occurred_at": target["occurred_at"], "source": target["source"],
            "data": {"retracts": target["event_id"], "reason": "withdrawn"},
        })  # fmt: skip
    return events


@pytest.mark.parametrize("group_by", [None, "incident"])
@pytest.mark.parametrize("fold_on_loop_rows", [0, 100], ids=["folded-in-a-thread", "folded-on-the-loop"])
@pytest.mark.parametrize("streamed_rows", [4, 1], ids=["chunked-mode", "single-row-mode"])
async def test_figures_read_in_chunks_are_the_fold_of_every_row_at_once(
    postgres_server: EmbeddedPostgres,
    monkeypatch: pytest.MonkeyPatch,
    group_by: GroupBy | None,
    fold_on_loop_rows: int,
    streamed_rows: int,
) -> None:
    selection = Selection(country="KG")
    with fresh_database(postgres_server) as url:
        await apply_in_batches(url, [messages(reports(random.Random(13)))])
        async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
            cur = conn.cursor(row_factory=args_row(BucketFigureRow))
            query, values = trend_views.figures_query(selection, group_by), trend_views.params(selection, "week")
            rows = await (await cur.execute(query, values)).fetchall()
            at_once = trend_views._fold_buckets(rows)
            monkeypatch.setattr(trend_views, "FIGURE_CHUNK_ROWS", 4)  # most buckets hold more: chunks cut them
            monkeypatch.setattr(trend_views, "FOLD_ON_LOOP_ROWS", fold_on_loop_rows)
            # libpq 17+ sends chunks of rows; before 17 the stream falls back to one row at a time
            monkeypatch.setattr(trend_views, "_STREAMED_ROWS", streamed_rows)
            chunked = [folded async for folded in trend_views.figures(conn, selection, "week", group_by)]

    assert len(rows) > 10 * 4 and len(at_once) >= 10  # many chunks, every bucket of the ten weeks
    assert chunked == at_once
