"""The analysts' read API: questions across incidents. One set of filters (services/query/selection_params.py)
for a page of events (/v1/events), a time series (/v1/trends), a map (/v1/map) and two exports
(/v1/export.csv, /v1/export.ndjson); the per-incident map and CSV are the same code with one incident selected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from schemas.bounds import Moment
from services.query import export_views, search_views, trend_views
from services.query.dependencies import POSITIONED, Connection, HeavyConnection, Position, Read
from services.query.domain_routes import CSV, GEOJSON
from services.query.errors import BAD_CURSOR, after_cursor, invalid_parameter
from services.query.exports import StreamedExport, feature_collection, hxl_csv, ndjson
from services.query.models import EventHitPage, TrendPoint, Trends, TrendSeries
from services.query.pagination import Cursor, page_json
from services.query.params import DEFAULT_LIMIT, Limit, PageCursor
from services.query.search_views import Sort
from services.query.selection_params import Selected
from services.query.trend_views import GroupBy, Interval

router = APIRouter()

# A cursor carries its sort, so a cursor of one sort is refused (400) under another.
CURSORS: dict[str, Cursor[tuple[str, Any, int]]] = {
    "occurred_at": Cursor(tuple[Literal["occurred_at"], Moment, int]),
    "-occurred_at": Cursor(tuple[Literal["-occurred_at"], Moment, int]),
    "relevance": Cursor(tuple[Literal["relevance"], float, int]),
}

MAX_BUCKETS = 2000  # a series longer than this is refused: ask a longer interval or a shorter window
_BUCKET_DAYS = {"day": 1, "week": 7, "month": 28}

NDJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-ndjson": {}}, "description": "One event as JSON a line, streamed."}
}


@router.get("/events", responses=BAD_CURSOR, response_model=EventHitPage)
async def search_events(
    read: Read,
    selection: Selected,
    sort: Annotated[
        Sort | None,
        Query(description="occurred_at (default without q), -occurred_at, or relevance (default with q)."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
) -> Response:
    """Every incident's events under the filters, with the incident, location, named actors and a casualty
    report's figures; with `q`, each hit's rank and a highlighted snippet."""
    sort = sort or ("relevance" if selection.text else "occurred_at")
    if sort == "relevance" and not selection.text:
        raise invalid_parameter("sort", "relevance sorts by q: give q, or sort by occurred_at or -occurred_at")
    decoded = after_cursor(CURSORS[sort], cursor)
    after = (decoded[1], decoded[2]) if decoded is not None else None
    async with read.read_models.connection() as conn:
        found = await search_views.hits(conn, selection, sort, after=after, limit=limit + 1)

    def key(hit: dict[str, Any]) -> tuple[str, Any, int]:
        at = hit["rank"] if sort == "relevance" else datetime.fromisoformat(hit["occurred_at"])
        return sort, at, hit["position"]

    # The hits as EventHitPage documents them (search_views.hits): sent as they are, not validated again.
    body = page_json(found.hits, limit, CURSORS[sort], key=key, relevance_capped=found.capped)
    return Response(body, media_type="application/json", headers=read.freshness(found.position).headers)


@router.get("/trends", dependencies=POSITIONED)
async def trends(
    selection: Selected,
    conn: Connection,
    interval: Annotated[Interval, Query(description="The bucket: day, week or month (UTC).")] = "week",
    group_by: Annotated[GroupBy | None, Query(description="One series per type, country or incident.")] = None,
) -> Trends:
    """Events and casualty figures per interval under the filters, every bucket present (zeros included). Casualty
    figures never add two sources' claims about one toll: see docs/http-api.md."""
    first, last = selection.occurred_from, selection.occurred_to
    if first is None or last is None:
        found_first, found_last = await trend_views.span(conn, selection)
        first, last = first or found_first, (last - timedelta(microseconds=1)) if last else found_last
    else:
        last -= timedelta(microseconds=1)  # occurred_to is exclusive
    if first is None or last is None or first > last:
        return Trends(interval=interval, group_by=group_by, as_of=selection.as_of, series=[])
    if (last - first).days / _BUCKET_DAYS[interval] > MAX_BUCKETS:
        raise invalid_parameter("interval", f"more than {MAX_BUCKETS} {interval}s: narrow occurred_from/occurred_to")
    counts = await trend_views.counts(conn, selection, interval, group_by, first, last)
    figures = {key: found async for key, found in trend_views.figures(conn, selection, interval, group_by)}
    series: dict[str, TrendSeries] = {}
    for count in counts:
        points = series.setdefault(count.grp, TrendSeries(group=count.grp or None, points=[])).points
        points.append(
            TrendPoint(
                start=count.bucket.replace(tzinfo=UTC),
                events=count.events,
                casualties=figures.get((count.grp, count.bucket), []),
            )
        )
    return Trends(interval=interval, group_by=group_by, as_of=selection.as_of, series=list(series.values()))


@router.get("/map", responses=GEOJSON, response_class=StreamingResponse, dependencies=POSITIONED)
async def selection_map(selection: Selected, conn: HeavyConnection, position: Position) -> StreamingResponse:
    """The located events under the filters, across incidents, as one GeoJSON FeatureCollection, streamed."""
    rows = export_views.located(conn, selection)
    return StreamedExport(feature_collection(rows), media_type="application/geo+json", headers=position.headers)


@router.get("/export.csv", responses=CSV, response_class=StreamingResponse, dependencies=POSITIONED)
async def selection_csv(selection: Selected, conn: HeavyConnection, position: Position) -> StreamingResponse:
    """Every event under the filters, one row each, with an HXL hashtag row under the headers, streamed."""
    rows = export_views.csv_rows(conn, selection)
    return StreamedExport(
        hxl_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={**position.headers, "Content-Disposition": 'attachment; filename="events.csv"'},
    )


@router.get("/export.ndjson", responses=NDJSON, response_class=StreamingResponse, dependencies=POSITIONED)
async def selection_ndjson(selection: Selected, conn: HeavyConnection, position: Position) -> StreamingResponse:
    """Every event under the filters, one JSON object a line, streamed."""
    rows = export_views.ndjson_lines(conn, selection)
    return StreamedExport(ndjson(rows), media_type="application/x-ndjson", headers=position.headers)
