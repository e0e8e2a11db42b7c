"""The HTTP read API over the domain read models: casualties, elections, detentions, statements, actors, map and
CSV export. Every endpoint takes `as_of` (recorded time): the answer as the system knew it then.

The answers are folded from rows by the domain functions, then paged by their sort key with the same opaque
cursors as the other lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from schemas.values import Slug
from services.common.openapi import ErrorBody
from services.domain.actors import Actor, actors
from services.domain.casualties import casualty_figures
from services.domain.detentions import custody
from services.domain.elections import elections
from services.domain.statements import by_speaker
from services.domain.summary import Summary, summarise
from services.query import export_views, incident_views, mention_views, report_views
from services.query.dependencies import POSITIONED, Connection, HeavyConnection, Position, on_the_loop
from services.query.errors import BAD_CURSOR, NOT_FOUND, after_cursor, not_found
from services.query.exports import StreamedExport, feature_collection, hxl_csv
from services.query.freshness import Freshness
from services.query.heavy_reads import json_off_loop
from services.query.models import ActorPage, Casualties, DetentionPage, ElectionPage, SpeakerPage
from services.query.pagination import Cursor, next_page
from services.query.params import DEFAULT_LIMIT, AsOf, IncidentId, Limit, PageCursor
from services.query.selection import Selection

T = TypeVar("T")

SLUG_CURSOR: Cursor[tuple[str]] = Cursor(tuple[Slug])

router = APIRouter()
LIST_ERRORS = {**NOT_FOUND, **BAD_CURSOR}
TOO_MANY_ROWS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "More rows to fold than one request may read (see the README)."}
}


def _page(items: Sequence[T], key: Callable[[T], str], cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """Items sorted by `key`, from after the cursor's key, one page of them."""
    after = after_cursor(SLUG_CURSOR, cursor)
    rest = [item for item in items if after is None or key(item) > after[0]]
    return next_page(rest[: limit + 1], limit, SLUG_CURSOR, key=lambda item: (key(item),))


async def _known_incident(conn: Connection, incident_id: str, position: Freshness) -> None:
    if not await incident_views.incident_exists(conn, incident_id):
        raise not_found(f"incident {incident_id!r}", position)


@router.get("/incidents/{incident_id}/casualties", responses={**NOT_FOUND, **TOO_MANY_ROWS}, response_model=Casualties)
async def incident_casualties(
    incident_id: IncidentId, conn: HeavyConnection, position: Position, as_of: AsOf = None
) -> Response:
    """Per category: each source's latest figure with its history (corrections applied), the range across
    sources, and the best supported figure by the documented rule. Never one silently chosen number."""
    await _known_incident(conn, incident_id, position)
    rows = await report_views.casualty_figures(conn, incident_id, as_of)
    return await json_off_loop(
        lambda: Casualties(incident_id=incident_id, as_of=as_of, categories=casualty_figures(rows)), position.headers
    )


@router.get("/incidents/{incident_id}/summary", responses={**NOT_FOUND, **TOO_MANY_ROWS}, response_model=Summary)
async def incident_summary(
    incident_id: IncidentId, conn: HeavyConnection, position: Position, as_of: AsOf = None
) -> Response:
    """Headline figures (the best supported per category, with the range across sources) and key facts."""
    await _known_incident(conn, incident_id, position)
    figures = await report_views.casualty_figures(conn, incident_id, as_of)
    election_rows = await report_views.election_events(conn, incident_id, as_of)
    detention_rows = await report_views.detention_events(conn, incident_id, as_of)
    return await json_off_loop(
        lambda: summarise(casualty_figures(figures), elections(election_rows), custody(detention_rows)),
        position.headers,
    )


@dataclass
class IncidentList:
    """The parameters of a list under one incident; `known` refuses an incident no read model holds."""

    incident_id: IncidentId
    as_of: AsOf = None
    limit: Limit = DEFAULT_LIMIT
    cursor: PageCursor = None

    async def page(
        self, conn: Connection, position: Freshness, items: Sequence[T], key: Callable[[T], str]
    ) -> tuple[list[T], str | None]:
        if not items:
            await _known_incident(conn, self.incident_id, position)
        return _page(items, key, self.cursor, self.limit)


ListOf = Annotated[IncidentList, Depends(on_the_loop(IncidentList))]


@router.get("/incidents/{incident_id}/elections", responses=LIST_ERRORS, dependencies=POSITIONED)
async def incident_elections(params: ListOf, conn: Connection, position: Position) -> ElectionPage:
    """Each election's state (held -> announced -> annulled or certified) with who, when and why."""
    folded = elections(await report_views.election_events(conn, params.incident_id, params.as_of))
    items, next_cursor = await params.page(conn, position, folded, lambda e: e.election_id)
    return ElectionPage(items=items, next_cursor=next_cursor)


@router.get("/incidents/{incident_id}/detentions", responses=LIST_ERRORS, dependencies=POSITIONED)
async def incident_detentions(params: ListOf, conn: Connection, position: Position) -> DetentionPage:
    """People detained or released, by actor id: their status, who released them, and the history."""
    folded = custody(await report_views.detention_events(conn, params.incident_id, params.as_of))
    items, next_cursor = await params.page(conn, position, folded, lambda p: p.person.id)
    return DetentionPage(items=items, next_cursor=next_cursor)


@router.get("/incidents/{incident_id}/statements", responses=LIST_ERRORS, dependencies=POSITIONED)
async def incident_statements(
    params: ListOf,
    conn: Connection,
    position: Position,
    speaker: Annotated[Slug | None, Query(description="Only this speaker's (actor id).")] = None,
) -> SpeakerPage:
    """Statements and observers' findings, grouped by speaker (actor id order), each speaker's in time order."""
    said = by_speaker(await report_views.statements(conn, params.incident_id, params.as_of, speaker))
    folded = [s for s in said if speaker in (None, s.speaker.id)]  # the current versions' speaker decides
    items, next_cursor = await params.page(conn, position, folded, lambda s: s.speaker.id)
    return SpeakerPage(items=items, next_cursor=next_cursor)


async def _actor_page(
    conn: Connection, as_of: datetime | None, cursor: str | None, limit: int, incident_id: str | None = None
) -> tuple[list[Actor], str | None]:
    """One page of actors after `cursor`, chosen in SQL (one more tells whether a next page follows), each folded
    from all of its mentions; only theirs are read."""
    after = after_cursor(SLUG_CURSOR, cursor)
    ids = await mention_views.actor_page(
        conn, as_of, after=after[0] if after else None, limit=limit + 1, incident_id=incident_id
    )
    folded = actors(await mention_views.mentions(conn, as_of, ids))  # in id order, as the SQL chose them
    return next_page(folded, limit, SLUG_CURSOR, key=lambda actor: (actor.actor_id,))


@router.get("/incidents/{incident_id}/actors", responses=LIST_ERRORS, dependencies=POSITIONED)
async def incident_actors(params: ListOf, conn: Connection, position: Position) -> ActorPage:
    """The actors this incident's reports name, with their roles, aliases and mention counts (all incidents)."""
    items, next_cursor = await _actor_page(conn, params.as_of, params.cursor, params.limit, params.incident_id)
    if not items:
        await _known_incident(conn, params.incident_id, position)
    return ActorPage(items=items, next_cursor=next_cursor)


@router.get("/actors", responses=BAD_CURSOR, dependencies=POSITIONED)
async def list_actors(
    conn: Connection, as_of: AsOf = None, limit: Limit = DEFAULT_LIMIT, cursor: PageCursor = None
) -> ActorPage:
    """The actor registry, in id order."""
    items, next_cursor = await _actor_page(conn, as_of, cursor, limit)
    return ActorPage(items=items, next_cursor=next_cursor)


@router.get("/actors/{actor_id}", responses=NOT_FOUND)
async def get_actor(actor_id: Slug, conn: Connection, position: Position, as_of: AsOf = None) -> Actor:
    """One actor: name, kind, aliases, roles over time, and every mention."""
    found = actors(await mention_views.mentions(conn, as_of, [actor_id]), with_mentions=True)
    if not found:
        raise not_found(f"actor {actor_id!r}", position)
    return found[0]


GEOJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/geo+json": {}}, "description": "A GeoJSON FeatureCollection, streamed."}
}
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "CSV, an HXL hashtag row under the headers, streamed."}
}


@router.get("/incidents/{incident_id}/map", responses={**NOT_FOUND, **GEOJSON}, response_class=StreamingResponse)
async def incident_map(
    incident_id: IncidentId, conn: HeavyConnection, position: Position, as_of: AsOf = None
) -> StreamingResponse:
    """The incident's located events as a GeoJSON FeatureCollection (coordinates [longitude, latitude]), streamed."""
    await _known_incident(conn, incident_id, position)
    rows = export_views.located(conn, Selection(incidents=[incident_id], as_of=as_of))
    return StreamedExport(feature_collection(rows), media_type="application/geo+json", headers=position.headers)


@router.get("/incidents/{incident_id}/export.csv", responses={**NOT_FOUND, **CSV}, response_class=StreamingResponse)
async def incident_csv(
    incident_id: IncidentId, conn: HeavyConnection, position: Position, as_of: AsOf = None
) -> StreamingResponse:
    """Every event of the incident, one row each, with an HXL hashtag row under the headers, streamed."""
    await _known_incident(conn, incident_id, position)
    rows = export_views.csv_rows(conn, Selection(incidents=[incident_id], as_of=as_of))
    return StreamedExport(
        hxl_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={**position.headers, "Content-Disposition": f'attachment; filename="{incident_id}.csv"'},
    )
