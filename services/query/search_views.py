"""Plain SQL for /v1/events: a page of a selection's events across incidents, sorted by when they happened or by
relevance to `q`, each with what makes it useful without a second call: the actors it names, a casualty report's
figures (corrections applied, as of `as_of`), and with `q` its rank and a highlighted snippet.

Keyset pagination as the timeline's: `after` is the sort key of the last row served. The snippet is computed for
the page's rows only (ts_headline reads the whole text).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import orjson
from psycopg import sql
from psycopg.rows import class_row, dict_row

from schemas.events.casualties import CasualtiesReported
from services.common.database import DictConnection
from services.domain.casualties import FigureRow, count_of
from services.domain.casualty_rule import fold
from services.query.as_of import AS_OF
from services.query.event_log_views import entry_json
from services.query.freshness import POSITION
from services.query.models import HitFigure
from services.query.selection import DISTANCE_KM, TSQUERY, Selection

Sort = Literal["occurred_at", "-occurred_at", "relevance"]


@dataclass(frozen=True)
class _Order:
    order: str
    after: str  # the keyset condition: rows after the last one served
    hits: str  # the same order over the statement's hits (a stream_seq is a hit's position)


ORDERS: dict[str, _Order] = {
    "occurred_at": _Order(
        "occurred_at, stream_seq",
        "(occurred_at, stream_seq) > (%(after_key)s, %(after_seq)s)",
        "hit.occurred_at, hit.position",
    ),
    "-occurred_at": _Order(
        "occurred_at DESC, stream_seq DESC",
        "(occurred_at, stream_seq) < (%(after_key)s, %(after_seq)s)",
        "hit.occurred_at DESC, hit.position DESC",
    ),
    "relevance": _Order(
        "rank DESC, stream_seq DESC",
        "(rank, stream_seq) < (%(after_key)s, %(after_seq)s)",
        "hit.rank DESC, hit.position DESC",
    ),
}

# Sorted by relevance, `q` ranks at most this many matches: ranking reads every candidate's row, and a common word
# matches thousands (6,000 of a million events in the benchmark). The page says when it was capped.
RANKED_MATCHES = 1000

# The candidates a relevance sort ranks: the first RANKED_MATCHES matches in the stream, whatever order the plan reads
# the heap in (it moves with updates, vacuum, the plan chosen, a synchronized scan's start): every page, of every
# process, ranks the same ones. The cap applies before the page's cursor. Ordering every match by stream_seq would
# read every match's row (6,000 at a million events, where the cap ranks 1,000): the first RANKED_MATCHES found in
# any order bound the first in the stream (none lies above the highest of them), so the ordered pass reads the
# matches up to that bound only, and runs only when the cap was reached (docs/performance.md).
CAPPED_MATCHES = """(
    WITH scanned AS MATERIALIZED (SELECT * FROM event_log WHERE {conditions} LIMIT %(ranked_matches)s)
    SELECT *, count(*) OVER () AS candidates FROM (
        SELECT * FROM scanned WHERE (SELECT count(*) FROM scanned) < %(ranked_matches)s
        UNION ALL
        (SELECT * FROM event_log
         WHERE {conditions} AND stream_seq <= (SELECT max(stream_seq) FROM scanned)
               AND (SELECT count(*) FROM scanned) >= %(ranked_matches)s
         ORDER BY stream_seq LIMIT %(ranked_matches)s)
    ) capped
) event_log"""

# The events a casualty_figures row is about: a page reads figures only when it has one.
CASUALTY_REPORTS = {CasualtiesReported.event_type()}

# EventHit's own fields after TimelineEntry's, in its order, as the API writes them; its casualties are folded in
# Python (services/domain) and put in the place kept for them. The source's times as the timeline writes them:
# the envelope's text, at the offset the source gave, and occurred_on the source's day (docs/http-api.md).
_HIT_FIELDS = """
    'incident_id', incident_id,
    'actors', (SELECT COALESCE(json_agg(json_build_object('id', m.actor_id, 'name', m.name, 'kind', m.kind,
                                                         'role', m.role, 'field', m.field) ORDER BY m.field), '[]')
               FROM actor_mentions m WHERE m.event_id = page.event_id),
    'casualties', '[]'::json, 'rank', rank, 'snippet', {snippet}, 'distance_km', distance_km,"""

# ts_headline's defaults, but two fragments: a quote and a description each get a chance.
SNIPPET_OPTIONS = 'MaxFragments=2, MaxWords=20, MinWords=6, FragmentDelimiter=" … "'


def hits_query(
    selection: Selection, sort: Sort, *, after: tuple[Any, int] | None, limit: int
) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement of a page of hits, and its parameters (apart, so that a benchmark can EXPLAIN it). Sorted by
    relevance, the matches ranked are the first RANKED_MATCHES in the stream; `candidates` tells how many were."""
    order = ORDERS[sort]
    searching = selection.text is not None
    snippet = (
        f"ts_headline('crisis_search', event_text(envelope), {TSQUERY}, %(snippet_options)s)" if searching else "NULL"
    )
    ranking = sort == "relevance"
    candidates = sql.SQL(CAPPED_MATCHES if ranking else "event_log").format(conditions=selection.where())
    conditions: list[sql.Composable] = [sql.SQL(order.after) if after is not None else sql.SQL("true")]
    if not ranking:
        conditions.append(selection.where())
    query = sql.SQL(
        """
        SELECT {entry} AS entry, stream_seq AS position, occurred_at, rank, {candidates_count} AS candidates
        FROM (
            SELECT event_log.*, rank, distance_km
            FROM {candidates},
                 LATERAL (SELECT {rank} AS rank) r,
                 LATERAL (SELECT {distance} AS distance_km) d
            WHERE {conditions}
            ORDER BY {order}
            LIMIT %(limit)s
        ) page CROSS JOIN LATERAL verification_at(page.event_id, {as_of}) v
        ORDER BY {order}
        """
    ).format(
        as_of=sql.SQL(AS_OF),
        entry=sql.SQL(entry_json("v.verification", _HIT_FIELDS.format(snippet=snippet))),
        rank=sql.SQL(f"ts_rank(search, {TSQUERY})::float8" if searching else "NULL::float8"),
        distance=sql.SQL(DISTANCE_KM if selection.near is not None else "NULL::float8"),
        candidates=candidates,
        candidates_count=sql.SQL("candidates" if ranking else "NULL::bigint"),
        conditions=sql.SQL(" AND ").join(conditions),
        order=sql.SQL(order.order),
    )
    after_key, after_seq = after if after is not None else (None, None)
    params = {
        **selection.params(),
        "after_key": after_key,
        "after_seq": after_seq,
        "limit": limit,
        "ranked_matches": RANKED_MATCHES,
        "snippet_options": SNIPPET_OPTIONS,
    }
    return query, params


@dataclass(frozen=True)
class Hits:
    position: int  # the read models' position, read in the same snapshot as the hits
    hits: list[dict[str, Any]]  # each as the API writes an EventHit
    capped: bool  # sorted by relevance, the matches were more than RANKED_MATCHES: not every one was ranked


async def hits(
    conn: DictConnection, selection: Selection, sort: Sort, *, after: tuple[Any, int] | None, limit: int
) -> Hits:
    """The read models' position and up to `limit` hits after `after` in `sort` order, in one statement (one round
    trip, one snapshot). PostgreSQL writes the hits as one JSON array in EventHit's documented shape, parsed by
    orjson and sent as they are once their casualty figures are in: validating them as models and writing them
    again cost the service about a fifth of a search's CPU (docs/performance.md)."""
    query, params = hits_query(selection, sort, after=after, limit=limit)
    page = sql.SQL(
        """
        SELECT ({position}) AS position, page.hits, page.candidates
        FROM (SELECT COALESCE(json_agg(hit.entry ORDER BY {order}), '[]')::text AS hits,
                     max(hit.candidates) AS candidates
              FROM ({query}) hit) page
        """
    ).format(position=sql.SQL(POSITION), order=sql.SQL(ORDERS[sort].hits), query=query)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(page, params)
        row = await cur.fetchone()
    assert row is not None
    found: list[dict[str, Any]] = orjson.loads(row["hits"])
    reports = [UUID(hit["event_id"]) for hit in found if hit["type"] in CASUALTY_REPORTS]
    figures = await _figures(conn, reports, selection.as_of)
    for hit in found:
        _floats_as_floats(hit)
        if hit["type"] in CASUALTY_REPORTS:
            hit["casualties"] = figures.get(UUID(hit["event_id"]), [])
    capped = sort == "relevance" and (row["candidates"] or 0) >= RANKED_MATCHES
    return Hits(row["position"], found, capped=capped)


def _floats_as_floats(hit: dict[str, Any]) -> None:
    """A float8 of 0 comes back from PostgreSQL's JSON as 0, an int to orjson: written 0.0, as pydantic did."""
    for name in ("rank", "distance_km"):
        if hit[name] is not None:
            hit[name] = float(hit[name])


async def _figures(
    conn: DictConnection, report_ids: Sequence[UUID], as_of: datetime | None
) -> dict[UUID, list[dict[str, Any]]]:
    """Each casualty report's current figures as the API writes them (its corrections recorded by `as_of`
    applied); no statement for a page without a report (most pages: a round trip a read)."""
    if not report_ids:
        return {}
    query = sql.SQL(
        """
        SELECT event_id, version_of, category, casualty_group, value, min, max, text, lower_bound, upper_bound,
               source, reason, occurred_at, reported_at, recorded_at, stream_seq,
               v.verification
        FROM casualty_figures CROSS JOIN LATERAL verification_at(version_of, {as_of}) v
        WHERE version_of = ANY(%(ids)s) AND recorded_at <= {as_of}
        """
    ).format(as_of=sql.SQL(AS_OF))
    async with conn.cursor(row_factory=class_row(FigureRow)) as cur:
        await cur.execute(query, {"ids": list(report_ids), "as_of": as_of})
        rows = await cur.fetchall()
    by_report: dict[UUID, list[FigureRow]] = defaultdict(list)
    for row in rows:
        by_report[row.version_of].append(row)
    # The rule's fold, read as the incident's casualties answer reads it (each source's latest figure), without
    # building that answer's models (ranges, best supported, histories) only to read four values off them.
    return {
        report_id: [
            HitFigure(
                category=kind.kind[0],
                group=kind.kind[1],
                count=count_of(figure.current),
                corrected=len(figure.versions) > 1,
            ).model_dump(mode="json")
            for kind in fold(versions)
            for source in kind.sources
            for figure in source.history[-1:]
        ]
        for report_id, versions in by_report.items()
    }
