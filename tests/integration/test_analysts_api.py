"""The analysts' API across incidents (issue 13), end to end: reports go in through ingest, the projector writes the
read models on the real nats-server and PostgreSQL, and the answers come from the query service. Every expected
answer is computed from the reports posted, never written out by hand."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from services.common.settings import Settings
from services.query import search_views
from services.query.selection import Selection
from tests.conftest import incident_id
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.usefixtures("stream")

BISHKEK = {"name": "Bishkek", "country": "KG", "admin_area": "Chuy", "lat": 42.87, "lon": 74.59}
OSH = {"name": "Osh", "country": "KG", "lat": 40.53, "lon": 72.8}  # about 300 km from Bishkek
MINSK = {"name": "Mińsk", "country": "BY", "lat": 53.9, "lon": 27.56}
JAPAROV = {"id": "sadyr-japarov", "name": "Sadyr Japarov", "kind": "person"}


def report(incident: str, event_type: str, when: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "incident_id": incident,
        "occurred_at": when,
        "source": envelope.pop("source", {"name": "AKIpress", "kind": "media"}),
        "data": data,
        **envelope,
    }


def killed(value: int) -> dict[str, Any]:
    return {"figures": [{"category": "killed", "count": {"value": value}}]}


def world(kg: str, by: str) -> list[dict[str, Any]]:
    """Two incidents in two countries: protests, a statement by an actor with a Cyrillic alias, three sources'
    figures about one toll (one of them retracted), a corrected report, and a protest in a city with a diacritic."""
    gov = {"name": "Ministry of Health", "kind": "government"}
    ngo = {"name": "Kloop", "kind": "ngo"}
    retracted = report(kg, "CasualtiesReported", "2020-10-06T12:00:00+06:00", killed(100), location=BISHKEK)
    corrected = report(by, "CasualtiesReported", "2020-08-10T22:00:00+03:00", killed(2), location=MINSK)
    return [
        report(kg, "ActorRegistered", "2020-10-04T10:00:00+06:00", {"actor": JAPAROV, "aliases": ["Садыр Жапаров"]}),
        report(
            kg,
            "ProtestReported",
            "2020-10-05T19:00:00+06:00",
            {"sub_type": "peaceful_protest", "description": "Thousands gathered on Ala-Too square"},
            location=BISHKEK,
        ),
        report(
            kg,
            "StatementIssued",
            "2020-10-06T09:00:00+06:00",
            {"speaker": JAPAROV, "quote": "We will restore order in the capital"},
            location=BISHKEK,
            source=gov,
        ),
        report(kg, "CasualtiesReported", "2020-10-06T10:00:00+06:00", killed(1), location=BISHKEK, source=gov),
        report(kg, "CasualtiesReported", "2020-10-06T11:00:00+06:00", killed(3), location=BISHKEK, source=ngo),
        retracted,
        report(
            kg,
            "ReportRetracted",
            "2020-10-07T10:00:00+06:00",
            {"retracts": retracted["event_id"], "reason": "withdrawn"},
        ),
        report(
            kg,
            "ProtestReported",
            "2020-10-20T12:00:00+06:00",
            {"sub_type": "peaceful_protest", "description": "A small rally in the south"},
            location=OSH,
        ),
        report(
            by,
            "ProtestReported",
            "2020-08-10T20:00:00+03:00",
            {"sub_type": "protest_with_intervention", "description": "Crowds marched through Mińsk"},
            location=MINSK,
        ),
        corrected,
        report(
            by,
            "ReportCorrected",
            "2020-08-12T10:00:00+03:00",
            {
                "corrects": corrected["event_id"],
                "corrected_type": "CasualtiesReported",
                "replacement": killed(4),
                "reason": "two more died in hospital",
            },
        ),
    ]


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with running_stack(settings, projector=True) as running:
        yield running


@pytest.fixture
async def posted(stack: Stack) -> dict[str, Any]:
    kg, by = incident_id(), incident_id()
    events = world(kg, by)
    # the fact changes in a later batch: recorded after what they change, so an as_of can fall between
    changes = ("ReportRetracted", "ReportCorrected")
    await stack.post(*(e for e in events if e["type"] not in changes))
    await stack.post(*(e for e in events if e["type"] in changes))
    return {"kg": kg, "by": by, "events": events}


async def all_hits(query: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of /v1/events, two hits a page, so paging is part of every answer."""
    hits: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await query.get(
            "/v1/events", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        assert int(response.headers["X-Position"]) > 0
        page = response.json()
        hits += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return hits


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in sorted(events, key=lambda e: datetime.fromisoformat(e["occurred_at"]))]


def located(event: dict[str, Any]) -> dict[str, Any]:
    return event.get("location") or {}


async def test_each_filter_selects_the_events_that_match_it(stack: Stack, posted: dict[str, Any]) -> None:
    kg, by, events = posted["kg"], posted["by"], posted["events"]
    mine = {"incident": [kg, by]}  # other tests' incidents share the database's stream: stay within ours

    async def selected(**params: Any) -> list[str]:
        return [hit["event_id"] for hit in await all_hits(stack.query, **(mine | params))]

    assert await selected() == ids(events)
    assert await selected(incident=by) == ids([e for e in events if e["incident_id"] == by])
    assert await selected(country="KG") == ids([e for e in events if located(e).get("country") == "KG"])
    assert await selected(location="bishkek") == ids([e for e in events if located(e).get("name") == "Bishkek"])
    assert await selected(location="CHUY") == ids([e for e in events if located(e).get("admin_area") == "Chuy"])
    assert await selected(type=["ProtestReported", "StatementIssued"]) == ids(
        [e for e in events if e["type"] in ("ProtestReported", "StatementIssued")]
    )
    assert await selected(category="Protests") == ids([e for e in events if e["type"] == "ProtestReported"])
    assert await selected(actor=JAPAROV["id"]) == ids(
        [e for e in events if JAPAROV in (e["data"].get("actor"), e["data"].get("speaker"))]
    )
    assert await selected(source_kind="government") == ids([e for e in events if e["source"]["kind"] == "government"])
    retracted = [e["data"]["retracts"] for e in events if e["type"] == "ReportRetracted"]
    assert await selected(verification="retracted") == retracted
    window = ("2020-10-06T00:00:00+06:00", "2020-10-06T11:00:00+06:00")
    assert await selected(occurred_from=window[0], occurred_to=window[1]) == ids(
        [e for e in events if window[0] <= e["occurred_at"] < window[1]]
    )
    assert await selected(bbox="20,50,30,56") == ids([e for e in events if located(e).get("name") == "Mińsk"])
    near_bishkek = [e for e in events if located(e).get("name") == "Bishkek"]
    assert await selected(near="42.9,74.6,50") == ids(near_bishkek)
    assert await selected(near="42.9,74.6,400") == ids(near_bishkek + [e for e in events if located(e) == OSH])
    # newest first: the same events, the other way round
    assert await selected(sort="-occurred_at") == ids(events)[::-1]


async def test_a_hit_carries_its_incident_place_actors_and_figures(stack: Stack, posted: dict[str, Any]) -> None:
    events = posted["events"]
    statement = next(e for e in events if e["type"] == "StatementIssued")
    [hit] = await all_hits(stack.query, incident=posted["kg"], type="StatementIssued")
    assert (hit["event_id"], hit["incident_id"]) == (statement["event_id"], statement["incident_id"])
    assert hit["location"]["name"] == statement["location"]["name"]
    assert [(a["id"], a["field"]) for a in hit["actors"]] == [(JAPAROV["id"], "speaker")]
    assert hit["data"]["quote"] == statement["data"]["quote"] and hit["casualties"] == []

    # the corrected report shows its corrected figure, and says it was corrected
    correction = next(e for e in events if e["type"] == "ReportCorrected")
    [figures] = await all_hits(stack.query, incident=posted["by"], type="CasualtiesReported")
    assert figures["event_id"] == correction["data"]["corrects"]
    expected = correction["data"]["replacement"]["figures"][0]
    assert [(f["category"], f["count"]["value"], f["corrected"]) for f in figures["casualties"]] == [
        (expected["category"], expected["count"]["value"], True)
    ]
    # as the system knew it before the correction: the original figure
    recorded = datetime.fromisoformat(figures["recorded_at"])
    [before] = await all_hits(stack.query, incident=posted["by"], type="CasualtiesReported", as_of=recorded.isoformat())
    original = next(e for e in events if e["event_id"] == correction["data"]["corrects"])
    assert before["casualties"][0]["count"]["value"] == original["data"]["figures"][0]["count"]["value"]


async def test_a_page_without_a_casualty_report_reads_no_figures(
    stack: Stack, posted: dict[str, Any], settings: Settings
) -> None:
    """Most pages hold no casualty report: they answer without a statement on casualty_figures (a round trip a
    read), even while that table is locked."""
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(settings.database_url) as other:
        await other.execute("LOCK TABLE casualty_figures IN ACCESS EXCLUSIVE MODE")
        async with asyncio.timeout(10):  # a statement on the table would wait for the lock until the end
            response = await stack.query.get("/v1/events", params={"incident": posted["kg"], "type": "ProtestReported"})
    assert response.status_code == 200
    assert [hit["casualties"] for hit in response.json()["items"]] == [[], []]


async def test_q_searches_text_aliases_and_names_without_diacritics(stack: Stack, posted: dict[str, Any]) -> None:
    events, mine = posted["events"], {"incident": [posted["kg"], posted["by"]]}
    statement = next(e for e in events if e["type"] == "StatementIssued")
    registration = next(e for e in events if e["type"] == "ActorRegistered")

    # the Cyrillic alias finds every event naming the actor, though only the registration holds the alias
    found = await all_hits(stack.query, **mine, q="Жапаров")
    assert {hit["event_id"] for hit in found} == {statement["event_id"], registration["event_id"]}

    # "minsk" finds "Mińsk", highlighted as written
    minsk = [e for e in events if "Mińsk" in json.dumps(e, ensure_ascii=False)]
    found = await all_hits(stack.query, **mine, q="minsk")
    assert {hit["event_id"] for hit in found} == {e["event_id"] for e in minsk}
    assert all("<b>Mińsk</b>" in hit["snippet"] for hit in found)

    # web-search syntax: a phrase, an exclusion
    found = await all_hits(stack.query, **mine, q='"restore order"')
    assert [hit["event_id"] for hit in found] == [statement["event_id"]]
    found = await all_hits(stack.query, **mine, q="protest -rally", type="ProtestReported")
    protests = [e for e in events if e["type"] == "ProtestReported" and "rally" not in e["data"]["description"]]
    assert {hit["event_id"] for hit in found} == {e["event_id"] for e in protests}

    # relevance: ranks never rise down the pages
    found = await all_hits(stack.query, **mine, q="Bishkek OR square OR order OR capital")
    ranks = [hit["rank"] for hit in found]
    assert len(found) > 2 and ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]


async def test_relevance_ranks_a_capped_number_of_matches_and_says_so(
    stack: Stack, posted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine: dict[str, Any] = {
        "incident": [posted["kg"], posted["by"]],
        "q": "Bishkek OR square OR order OR capital OR protest",
    }
    every_match = await all_hits(stack.query, **mine, sort="-occurred_at")
    assert len(every_match) > 2
    page = (await stack.query.get("/v1/events", params=mine)).json()
    assert page["relevance_capped"] is False and len(page["items"]) == len(every_match)

    # a common word: relevance ranks the first RANKED_MATCHES matches, the same ones on every page, and says so
    monkeypatch.setattr(search_views, "RANKED_MATCHES", len(every_match) - 1)
    ranked, cursor = [], None
    while True:
        params = {**mine, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await stack.query.get("/v1/events", params=params)).json()
        assert page["relevance_capped"] is True
        ranked += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert len(ranked) == len(every_match) - 1 == len({hit["event_id"] for hit in ranked})
    assert {hit["event_id"] for hit in ranked} < {hit["event_id"] for hit in every_match}
    assert [hit["rank"] for hit in ranked] == sorted((hit["rank"] for hit in ranked), reverse=True)
    # sorted by time, every match is read: no cap
    page = (await stack.query.get("/v1/events", params={**mine, "sort": "-occurred_at", "limit": 100})).json()
    assert page["relevance_capped"] is False and len(page["items"]) == len(every_match)


async def test_capped_relevance_ranks_the_first_stored_matches_wherever_the_heap_holds_them(
    stack: Stack, posted: dict[str, Any], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capped candidates are the matches first in the stream, not the first the plan happens to read: after
    the heap is reordered (a no-op UPDATE writes each row's new version at the end), every page ranks the same, and
    so does every plan PostgreSQL may pick."""
    mine: dict[str, Any] = {
        "incident": [posted["kg"], posted["by"]],
        "q": "Bishkek OR square OR order OR capital OR protest",
    }
    every_match = await all_hits(stack.query, **mine, sort="-occurred_at")
    first_stored = sorted(hit["position"] for hit in every_match)
    cap = len(first_stored) // 2
    assert cap >= 2
    monkeypatch.setattr(search_views, "RANKED_MATCHES", cap)

    async def ranked() -> set[int]:
        return {hit["position"] for hit in await all_hits(stack.query, **mine)}

    assert await ranked() == set(first_stored[:cap])
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(settings.database_url, row_factory=dict_row) as conn:
        await conn.execute("UPDATE event_log SET envelope = envelope WHERE stream_seq = ANY(%s)", (first_stored[:cap],))
        await conn.commit()
        assert await ranked() == set(first_stored[:cap])
        selection = Selection(incidents=mine["incident"], text=mine["q"])
        for scan in ("enable_indexscan", "enable_bitmapscan", "enable_seqscan"):
            async with conn.transaction(force_rollback=True):
                await conn.execute(f"SET LOCAL {scan} = off")
                found = await search_views.hits(conn, selection, "relevance", after=None, limit=len(first_stored))
            assert {hit["position"] for hit in found.hits} == set(first_stored[:cap]), scan


async def test_trends_count_per_bucket_with_one_figure_per_toll(stack: Stack, posted: dict[str, Any]) -> None:
    kg, events = posted["kg"], posted["events"]
    params = {
        "incident": kg,
        "interval": "week",
        "occurred_from": "2020-09-28T00:00:00Z",
        "occurred_to": "2020-10-26T00:00:00Z",
    }
    response = await stack.query.get("/v1/trends", params=params)
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Position"]) > 0
    [series] = response.json()["series"]
    points = series["points"]
    assert [p["start"][:10] for p in points] == ["2020-09-28", "2020-10-05", "2020-10-12", "2020-10-19"]

    def counted(event: dict[str, Any]) -> bool:  # what happened; not the retraction, nor the retracted
        retracted = {e["data"]["retracts"] for e in events if e["type"] == "ReportRetracted"}
        return event["incident_id"] == kg and event["type"] != "ReportRetracted" and event["event_id"] not in retracted

    def week_of(event: dict[str, Any]) -> str:
        when = datetime.fromisoformat(event["occurred_at"]).astimezone(
            datetime.fromisoformat(points[0]["start"]).tzinfo
        )
        return str(next(p["start"] for p in reversed(points) if datetime.fromisoformat(p["start"]) <= when))

    assert [p["events"] for p in points] == [
        sum(1 for e in events if counted(e) and week_of(e) == p["start"]) for p in points
    ]
    assert points[2]["events"] == 0 and points[2]["casualties"] == []  # the empty week is there, with zeros

    # one toll, two standing sources (government 1, NGO 3): the government's figure, the range 1..3, never 4
    [killed] = points[1]["casualties"]
    standing = [
        e["data"]["figures"][0]["count"]["value"] for e in events if counted(e) and e["type"] == "CasualtiesReported"
    ]
    government = next(
        e["data"]["figures"][0]["count"]["value"]
        for e in events
        if e["type"] == "CasualtiesReported" and e["source"]["kind"] == "government"
    )
    assert (killed["best"], killed["lower"], killed["upper"], killed["sources"]) == (
        government,
        min(standing),
        max(standing),
        len(standing),
    )

    # grouped by country: one series per country, the other incident's corrected figure in its own
    grouped = await stack.get(
        "/v1/trends",
        incident=[kg, posted["by"]],
        interval="month",
        group_by="country",
        occurred_from="2020-08-01T00:00:00Z",
        occurred_to="2020-11-01T00:00:00Z",
    )
    by_country = {s["group"]: s["points"] for s in grouped["series"]}
    # events with no place (the registration, the correction) make a series of their own: country null
    assert set(by_country) == {"BY", "KG", None} and all(len(p) == 3 for p in by_country.values())
    correction = next(e for e in events if e["type"] == "ReportCorrected")
    assert (
        by_country["BY"][0]["casualties"][0]["best"]
        == correction["data"]["replacement"]["figures"][0]["count"]["value"]
    )


async def test_trends_as_of_before_a_retraction_count_the_retracted_report(
    stack: Stack, posted: dict[str, Any]
) -> None:
    kg = posted["kg"]
    [retracted] = await all_hits(stack.query, incident=kg, verification="retracted")
    before = datetime.fromisoformat(retracted["recorded_at"]).isoformat()  # recorded by then; the retraction after
    october = {
        "incident": kg,
        "interval": "month",
        "occurred_from": "2020-10-01T00:00:00Z",
        "occurred_to": "2020-11-01T00:00:00Z",
    }
    now = await stack.get("/v1/trends", **october)
    then = await stack.get("/v1/trends", **october, as_of=before)
    retracted_figure = retracted["casualties"][0]["count"]["value"]
    assert now["series"][0]["points"][0]["casualties"][0]["upper"] < retracted_figure
    assert then["series"][0]["points"][0]["casualties"][0]["upper"] == retracted_figure
    assert then["series"][0]["points"][0]["events"] == now["series"][0]["points"][0]["events"] + 1


async def test_map_and_exports_hold_the_selection(stack: Stack, posted: dict[str, Any]) -> None:
    kg, events = posted["kg"], posted["events"]
    selection = {"incident": [kg, posted["by"]], "country": "KG"}
    expected = ids([e for e in events if located(e).get("country") == "KG"])

    response = await stack.query.get("/v1/export.csv", params=selection)
    assert response.status_code == 200 and "X-Position" in response.headers
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[1][:2] == ["#event+id", "#crisis+id"]
    assert [row[0] for row in rows[2:]] == expected and {row[1] for row in rows[2:]} == {kg}

    response = await stack.query.get("/v1/export.ndjson", params=selection)
    assert response.status_code == 200 and "X-Position" in response.headers
    assert [json.loads(line)["event_id"] for line in response.text.splitlines()] == expected

    response = await stack.query.get("/v1/map", params={**selection, "near": "42.9,74.6,50"})
    assert response.status_code == 200 and "X-Position" in response.headers
    features = response.json()["features"]
    assert [f["id"] for f in features] == ids([e for e in events if located(e).get("name") == "Bishkek"])
    assert all(f["geometry"]["coordinates"] == [BISHKEK["lon"], BISHKEK["lat"]] for f in features)


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/events", {"type": "NoSuchEvent"}, "type"),
    ("/v1/events", {"category": "Picnics"}, "category"),
    ("/v1/events", {"country": "kyrgyzstan"}, "country"),
    ("/v1/events", {"source_kind": "rumour"}, "source_kind"),
    ("/v1/events", {"verification": "probably"}, "verification"),
    ("/v1/events", {"bbox": "74,42,75"}, "bbox"),
    ("/v1/events", {"bbox": "74,42,75,north"}, "bbox"),
    ("/v1/events", {"bbox": "74,43,75,42"}, "bbox"),
    ("/v1/events", {"bbox": "190,42,195,43"}, "bbox"),
    ("/v1/events", {"near": "42.9,74.6,5000"}, "near"),
    ("/v1/events", {"near": "42.9,74.6,0"}, "near"),
    ("/v1/events", {"near": "95,74.6,10"}, "near"),
    ("/v1/events", {"occurred_from": "2020-10-07T00:00:00Z", "occurred_to": "2020-10-06T00:00:00Z"}, "occurred_from"),
    ("/v1/events", {"q": "   "}, "q"),
    ("/v1/events", {"q": "!!! -- ()"}, "q"),
    ("/v1/events", {"q": "x" * 201}, "q"),
    ("/v1/events", {"sort": "relevance"}, "sort"),
    ("/v1/events", {"sort": "size"}, "sort"),
    ("/v1/events", {"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
    ("/v1/trends", {"interval": "fortnight"}, "interval"),
    ("/v1/trends", {"group_by": "region"}, "group_by"),
    (
        "/v1/trends",
        {"interval": "day", "occurred_from": "1950-01-01T00:00:00Z", "occurred_to": "2020-01-01T00:00:00Z"},
        "interval",
    ),
    ("/v1/map", {"near": "1,2"}, "near"),
    ("/v1/export.csv", {"bbox": ""}, "bbox"),
    ("/v1/export.ndjson", {"incident": "Not A Slug"}, "incident"),
]


@pytest.mark.parametrize(("route", "params", "parameter"), BAD_INPUT)
async def test_bad_input_is_refused_naming_the_parameter(
    stack: Stack, route: str, params: dict[str, Any], parameter: str
) -> None:
    response = await stack.query.get(route, params=params)
    assert response.status_code in (400, 422), response.text
    details = response.json()["details"]
    assert any(detail["loc"][:2] == ["query", parameter] and detail["msg"] for detail in details), details


async def test_a_cursor_of_one_sort_is_refused_under_another(stack: Stack, posted: dict[str, Any]) -> None:
    page = await stack.get("/v1/events", limit=1, sort="occurred_at")
    response = await stack.query.get(
        "/v1/events", params={"limit": 1, "sort": "-occurred_at", "cursor": page["next_cursor"]}
    )
    assert response.status_code == 400 and response.json()["details"][0]["loc"] == ["query", "cursor"]


INJECTIONS = ["'; DROP TABLE event_log; --", "zzz' OR 'qqq'='qqq", "1) OR (1=1", "%(text)s", "$$; SELECT 1; $$"]


async def test_injection_attempts_in_every_parameter_are_only_values(stack: Stack, posted: dict[str, Any]) -> None:
    """Every parameter of the analysts' routes (from the OpenAPI document) given SQL: refused, or matching nothing."""
    openapi = (await stack.query.get("/openapi.json")).json()
    routes = ["/v1/events", "/v1/trends", "/v1/map", "/v1/export.csv", "/v1/export.ndjson"]
    names = {p["name"] for route in routes for p in openapi["paths"][route]["get"]["parameters"] if p["in"] == "query"}
    assert {"incident", "country", "location", "type", "category", "actor", "bbox", "near", "q", "sort"} <= names
    for route in routes:
        for name in names & {p["name"] for p in openapi["paths"][route]["get"]["parameters"]}:
            for value in INJECTIONS:
                response = await stack.query.get(route, params={name: value})
                assert response.status_code < 500, (route, name, value, response.text)
                if response.status_code == 200 and route == "/v1/events":
                    assert response.json()["items"] == [], (name, value)  # a value that matches no event
    everything = await all_hits(stack.query)
    assert len(everything) == len(posted["events"])  # the tables are all still there
