"""The domain read models through the HTTP API only: reports posted to ingest, answers read from query."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from services.common.settings import Settings
from services.demo.loader import scenario_events
from tests.conftest import incident_id
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.usefixtures("stream")

GOVERNMENT = "Government of Kyrgyzstan"
MEDIA = "Seed article (international media)"


def scenario(name: str, incident: str) -> list[dict[str, Any]]:
    """The scenario's reports under a fresh incident id and fresh event ids (also where one names another, as a
    correction does), so tests never share events."""
    events = scenario_events(name)
    text = json.dumps([{**e, "incident_id": incident} for e in events])
    for event in events:
        text = text.replace(event["event_id"], str(uuid.uuid4()))
    return list(json.loads(text))


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async with running_stack(settings, projector=True) as running:
        yield running


@pytest.fixture
async def seed(stack: Stack) -> tuple[str, list[dict[str, Any]]]:
    incident = incident_id()
    events = scenario("kg-2020-election", incident)
    await stack.post(*events)
    return incident, events


def category(casualties: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in casualties["categories"] if c["category"] == name)


def latest_by_source(entry: dict[str, Any]) -> dict[str, Any]:
    return {s["source"]["name"]: s["latest"]["count"] for s in entry["sources"] if s["latest"]}


def government_report(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["type"] == "CasualtiesReported" and e["source"]["kind"] == "government")


def correction(incident: str, target: dict[str, Any], injured: int, **data: Any) -> dict[str, Any]:
    return {
        "type": "ReportCorrected",
        "incident_id": incident,
        "occurred_at": "2020-10-08T10:00:00+06:00",
        "source": {"name": "Ministry of Health of Kyrgyzstan", "kind": "government"},
        "data": {
            "corrects": target["event_id"],
            "corrected_type": "CasualtiesReported",
            "replacement": {
                "figures": [
                    {"category": "injured", "count": {"value": injured}},
                    {"category": "killed", "count": {"value": 1}},
                ]
            },
            "reason": "Updated hospital admissions",
            **data,
        },
    }


async def test_casualties_show_every_source_side_by_side(stack: Stack, seed: tuple[str, list[dict[str, Any]]]) -> None:
    incident, _ = seed
    casualties = await stack.get(f"/v1/incidents/{incident}/casualties")
    injured, killed = category(casualties, "injured"), category(casualties, "killed")
    assert latest_by_source(injured)[GOVERNMENT] | {} == {
        "value": 590, "min": None, "max": None, "text": None, "lower": 590, "upper": 590, "bounds": "known",
        "approximate": False,
    }  # fmt: skip
    assert latest_by_source(injured)[MEDIA] == {
        "value": None, "min": None, "max": None, "text": "hundreds", "lower": 200, "upper": 999, "bounds": "known",
        "approximate": False,
    }  # fmt: skip
    assert latest_by_source(killed)[GOVERNMENT]["value"] == 1
    assert injured["range"] == {"lower": 200, "upper": 999, "unknown_bounds": []}
    best = injured["best_supported"]
    assert best["figure"]["source"]["name"] == GOVERNMENT and best["figure"]["count"]["value"] == 590
    assert "government" in best["why"]


async def test_a_correction_changes_the_current_view_but_not_the_past(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    original = government_report(events)
    before = (await stack.get(f"/v1/events/{original['event_id']}"))["event"]["recorded_at"]
    fix = correction(incident, original, 600)
    await stack.post(fix)

    now = category(await stack.get(f"/v1/incidents/{incident}/casualties"), "injured")
    government = next(s for s in now["sources"] if s["source"]["name"] == GOVERNMENT)["latest"]
    assert government["count"]["value"] == 600
    assert [(v["count"]["value"], v["corrected"], v["reason"]) for v in government["versions"]] == [
        (590, False, None),
        (600, True, "Updated hospital admissions"),
    ]
    then = category(await stack.get(f"/v1/incidents/{incident}/casualties", as_of=before), "injured")
    assert latest_by_source(then)[GOVERNMENT]["value"] == 590
    earlier = datetime.fromisoformat(before) - timedelta(microseconds=1)
    assert (await stack.get(f"/v1/incidents/{incident}/casualties", as_of=earlier.isoformat()))["categories"] == []


async def test_a_correction_that_drops_a_category_keeps_its_earlier_figure_in_history(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    fix = {**correction(incident, government_report(events), 600), "event_id": str(uuid.uuid4())}
    fix["data"]["replacement"]["figures"] = [{"category": "injured", "count": {"value": 600}}]  # "killed" dropped
    await stack.post(fix)
    killed = category(await stack.get(f"/v1/incidents/{incident}/casualties"), "killed")
    government = next(s for s in killed["sources"] if s["source"]["name"] == GOVERNMENT)
    assert government["latest"] is None and killed["best_supported"]["figure"]["source"]["name"] != GOVERNMENT
    [dropped] = government["history"]
    assert (dropped["count"]["value"], dropped["corrected_away_by"]) == (1, fix["event_id"])


async def test_retraction_and_verification_change_what_counts(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    media = next(e for e in events if e["type"] == "CasualtiesReported" and e["source"]["name"] == MEDIA)
    base = {"incident_id": incident, "occurred_at": "2020-10-08T10:00:00+06:00"}
    await stack.post(
        {**base, "type": "VerificationChanged", "source": {"name": "Fact desk", "kind": "ngo"},
         "data": {"event": government_report(events)["event_id"], "status": "confirmed", "reason": "Hospital lists"}},
        {**base, "type": "ReportRetracted", "source": {"name": MEDIA, "kind": "media"},
         "data": {"retracts": media["event_id"], "reason": "Figure not sourced"}},
    )  # fmt: skip
    injured = category(await stack.get(f"/v1/incidents/{incident}/casualties"), "injured")
    assert latest_by_source(injured) == {GOVERNMENT: latest_by_source(injured)[GOVERNMENT]}  # media's is retracted
    media_history = next(s for s in injured["sources"] if s["source"]["name"] == MEDIA)["history"]
    assert [f["verification"] for f in media_history] == ["retracted"]
    assert injured["best_supported"]["figure"]["verification"] == "confirmed"
    assert injured["range"] == {"lower": 590, "upper": 590, "unknown_bounds": []}
    timeline = await stack.get(f"/v1/incidents/{incident}/timeline", verification="retracted")
    assert [e["event_id"] for e in timeline["items"]] == [media["event_id"]]


async def dead_letters(settings: Settings) -> list[tuple[str, str]]:
    async with await psycopg.AsyncConnection.connect(settings.database_url or "") as conn:
        cur = await conn.execute("SELECT projection, error FROM dead_letters ORDER BY projection")
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def test_a_correction_of_a_missing_or_foreign_event_lands_in_dead_letters(
    stack: Stack, settings: Settings, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    other = incident_id()
    foreign = government_report(scenario("kg-2020-election", other))  # the same report, in another incident
    await stack.post(foreign)
    unknown = {**government_report(events), "event_id": str(uuid.uuid4())}
    before = await stack.get(f"/v1/incidents/{incident}/casualties")

    await stack.post(correction(incident, unknown, 1000), correction(incident, foreign, 2000))

    assert await stack.get(f"/v1/incidents/{incident}/casualties") == before
    dead = await dead_letters(settings)
    assert sorted(projection for projection, _ in dead) == ["casualties", "casualties", "facts", "facts"]
    errors = " ".join(error for _, error in dead)
    assert f"names event {unknown['event_id']}, which does not exist" in errors
    assert f"of incident {other!r}, not {incident!r}" in errors


async def test_the_election_shows_annulled_by_the_commission_with_its_reason(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, _ = seed
    [election] = (await stack.get(f"/v1/incidents/{incident}/elections"))["items"]
    assert election["election_id"] == "parliamentary-2020" and election["state"] == "annulled"
    assert [step["state"] for step in election["steps"]] == ["held", "announced", "annulled"]
    annulled = election["steps"][-1]
    assert annulled["by"]["name"] == "Central Election Commission of Kyrgyzstan"
    assert "avoid tension" in annulled["why"]
    assert annulled["source"]["via"] == "Interfax"


async def test_detentions_list_the_five_released_by_protesters(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, _ = seed
    people = (await stack.get(f"/v1/incidents/{incident}/detentions"))["items"]
    released = {p["person"]["id"]: (p["status"], p["released_by"], p["former_role"]) for p in people}
    assert released == {
        "almazbek-atambayev": ("released", "protesters", "President of Kyrgyzstan (2011-2017)"),
        "unnamed-former-prime-minister-1": ("released", "protesters", "Prime minister"),
        "unnamed-former-prime-minister-2": ("released", "protesters", "Prime minister"),
        "unnamed-former-lawmaker-1": ("released", "protesters", "Member of parliament"),
        "unnamed-former-lawmaker-2": ("released", "protesters", "Member of parliament"),
    }
    atambayev = next(p for p in people if p["person"]["id"] == "almazbek-atambayev")
    assert [h["status"] for h in atambayev["history"]] == ["detained", "released"]
    page = await stack.get(f"/v1/incidents/{incident}/detentions", limit=3)
    rest = await stack.get(f"/v1/incidents/{incident}/detentions", limit=3, cursor=page["next_cursor"])
    assert [p["person"]["id"] for p in page["items"] + rest["items"]] == sorted(released)
    assert rest["next_cursor"] is None


async def test_statements_are_listed_by_speaker(stack: Stack, seed: tuple[str, list[dict[str, Any]]]) -> None:
    incident, _ = seed
    speakers = {s["speaker"]["id"]: s for s in (await stack.get(f"/v1/incidents/{incident}/statements"))["items"]}
    assert {"embassy-of-russia-bishkek", "sooronbai-jeenbekov", "osce"} <= set(speakers)
    embassy = [s["details"]["quote"] for s in speakers["embassy-of-russia-bishkek"]["statements"]]
    assert any("legal solution" in quote for quote in embassy) and any("internal stability" in q for q in embassy)
    assert len(speakers["sooronbai-jeenbekov"]["statements"]) == 2
    [osce] = speakers["osce"]["statements"]
    assert osce["type"] == "ObserverFindingsPublished" and "vote-buying" in osce["details"]["quote"]
    only = await stack.get(f"/v1/incidents/{incident}/statements", speaker="osce")
    assert [s["speaker"]["id"] for s in only["items"]] == ["osce"]


async def test_actors_are_a_registry_with_roles_and_mentions(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, _ = seed
    atambayev = await stack.get("/v1/actors/almazbek-atambayev")
    assert atambayev["kind"] == "person" and "Atambayev" in atambayev["aliases"]
    assert ("President of Kyrgyzstan", "2011-12-01", "2017-11-24") in [
        (r["title"], r["start"], r["end"]) for r in atambayev["roles"]
    ]
    assert {m["event_type"] for m in atambayev["mentions"]} == {"ActorRegistered", "PersonDetained", "PrisonerReleased"}
    mentioned = [a["actor_id"] for a in (await stack.get(f"/v1/incidents/{incident}/actors", limit=500))["items"]]
    assert {"central-election-commission-kg", "osce", "sooronbai-jeenbekov"} <= set(mentioned)
    assert mentioned == sorted(mentioned)
    assert (await stack.query.get("/v1/actors/nobody-at-all")).status_code == 404


async def test_actor_lists_are_paged_by_id_each_page_folding_its_own_actors(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, _ = seed
    for path in ("/v1/actors", f"/v1/incidents/{incident}/actors"):
        whole = (await stack.get(path, limit=500))["items"]
        paged: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await stack.get(path, limit=3, **({"cursor": cursor} if cursor else {}))
            assert len(page["items"]) <= 3
            paged += page["items"]
            if (cursor := page["next_cursor"]) is None:
                break
        assert len(whole) > 6
        assert paged == whole  # each actor once, in id order, as folded from all of its mentions
        assert [a["actor_id"] for a in whole] == sorted(a["actor_id"] for a in whole)


async def test_the_map_is_geojson_and_the_csv_has_an_hxl_row(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    response = await stack.query.get(f"/v1/incidents/{incident}/map")
    assert response.headers["content-type"] == "application/geo+json"
    assert int(response.headers["X-Position"]) > 0  # the seed was applied before the read
    geojson = response.json()
    assert geojson["type"] == "FeatureCollection"
    located = [e for e in events if (e.get("location") or {}).get("lat") is not None]
    assert len(geojson["features"]) == len(located) > 0
    for feature in geojson["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
        assert (lon, lat) == (feature["properties"]["location"]["lon"], feature["properties"]["location"]["lat"])
        assert 74 < lon < 75 and 42 < lat < 43  # Bishkek: longitude first

    response = await stack.query.get(f"/v1/incidents/{incident}/export.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert int(response.headers["X-Position"]) > 0  # the seed was applied before the read
    rows = list(csv.reader(io.StringIO(response.text)))
    headers, hashtags, body = rows[0], rows[1], rows[2:]
    assert all(tag.startswith("#") for tag in hashtags) and len(hashtags) == len(headers)
    assert {"#date+occurred", "#geo+lat", "#geo+lon", "#meta+source"} <= set(hashtags)
    assert len(body) == len(events)


async def test_csv_rows_name_who_and_how_many_and_describe_every_event(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    lines = (await stack.query.get(f"/v1/incidents/{incident}/export.csv")).text.splitlines()
    hashtags = next(csv.reader(lines[1:2]))
    assert {"#actor+name", "#affected+killed", "#affected+injured+min", "#affected+injured+text"} <= set(hashtags)
    rows = {row["event_id"]: row for row in csv.DictReader(lines[:1] + lines[2:])}
    detained = next(e for e in events if e["type"] == "PersonDetained")
    assert "person: Almazbek Atambayev" in rows[detained["event_id"]]["actors"]
    government = rows[government_report(events)["event_id"]]
    assert (government["injured"], government["killed"], government["injured_words"]) == ("590", "1", "")
    media = next(e for e in events if e["type"] == "CasualtiesReported" and e["source"]["name"] == MEDIA)
    assert [rows[media["event_id"]][f"injured{part}"] for part in ("", "_lower", "_upper", "_words")] == [
        "", "200", "999", "hundreds"
    ]  # fmt: skip
    assert all(row["description"] for row in rows.values())
    registered = next(e for e in events if e["type"] == "ActorRegistered")  # a type with no description field
    assert rows[registered["event_id"]]["description"].startswith("Actor registered: actor ")


async def test_every_view_shows_the_source_s_day_and_offset_in_one_format(stack: Stack) -> None:
    incident = incident_id()
    midnight = {
        "event_id": str(uuid.uuid4()),
        "type": "OfficialResigned",
        "incident_id": incident,
        "occurred_at": "2021-03-19T00:00:00+06:00",
        "occurred_precision": "day",
        "source": {"name": "AKIpress", "kind": "media"},
        "location": {"name": "Bishkek", "country": "KG", "lat": 42.87, "lon": 74.57},
        "data": {"person": {"id": "a-minister", "name": "A minister", "kind": "person"}, "office": "Minister"},
    }
    # an hour later in UTC, though its text sorts first: views order by the instant
    later = {**midnight, "event_id": str(uuid.uuid4()), "occurred_at": "2021-03-18T19:00:00Z"}
    await stack.post(later, midnight)
    entry, _ = (await stack.get(f"/v1/incidents/{incident}/timeline"))["items"]
    assert (entry["occurred_at"], entry["occurred_on"]) == ("2021-03-19T00:00:00+06:00", "2021-03-19")
    assert entry["recorded_at"].endswith("Z")
    row, after = csv.DictReader([line for n, line in enumerate(
        (await stack.query.get(f"/v1/incidents/{incident}/export.csv")).text.splitlines()) if n != 1])  # fmt: skip
    assert (row["date"], row["occurred_at"]) == ("2021-03-19", "2021-03-19T00:00:00+06:00")
    assert (after["date"], after["occurred_at"]) == ("2021-03-18", "2021-03-18T19:00:00Z")
    assert row["recorded_at"] == entry["recorded_at"]
    feature, _ = (await stack.query.get(f"/v1/incidents/{incident}/map")).json()["features"]
    assert (feature["properties"]["occurred_at"], feature["properties"]["occurred_on"]) == (
        "2021-03-19T00:00:00+06:00", "2021-03-19"
    )  # fmt: skip
    mentions = (await stack.get("/v1/actors/a-minister"))["mentions"]
    assert {m["occurred_at"] for m in mentions} == {"2021-03-19T00:00:00+06:00", "2021-03-18T19:00:00Z"}
    # the analysts' views across incidents alike
    hit, _ = (await stack.get(f"/v1/events?incident={incident}"))["items"]
    assert (hit["occurred_at"], hit["occurred_on"]) == ("2021-03-19T00:00:00+06:00", "2021-03-19")
    feature, _ = (await stack.query.get(f"/v1/map?incident={incident}")).json()["features"]
    assert (feature["properties"]["occurred_at"], feature["properties"]["occurred_on"]) == (
        "2021-03-19T00:00:00+06:00", "2021-03-19"
    )  # fmt: skip
    line, _ = (await stack.query.get(f"/v1/export.ndjson?incident={incident}")).text.splitlines()
    assert json.loads(line)["occurred_at"] == "2021-03-19T00:00:00+06:00"
    figures = {**midnight, "event_id": str(uuid.uuid4()), "type": "CasualtiesReported",
               "reported_at": "2021-03-19T09:30:00+06:00",
               "data": {"figures": [{"category": "killed", "count": {"value": 2}}]}}  # fmt: skip
    await stack.post(figures)
    [killed] = (await stack.get(f"/v1/incidents/{incident}/casualties"))["categories"]
    reported = killed["sources"][0]["latest"]
    assert (reported["occurred_at"], reported["reported_at"]) == (
        "2021-03-19T00:00:00+06:00",
        "2021-03-19T09:30:00+06:00",
    )


async def test_removals_deployments_and_shutdowns_show_in_the_timeline_and_the_csv(stack: Stack) -> None:
    incident = incident_id()
    base = {"incident_id": incident, "occurred_at": "2020-10-09T18:00:00+06:00", "occurred_precision": "hour",
            "source": {"name": "AKIpress", "kind": "media"}}  # fmt: skip
    parliament = {"id": "parliament-kg", "name": "Jogorku Kenesh", "kind": "state_body"}
    reports = [
        base | {"type": "OfficialRemoved", "event_id": str(uuid.uuid4()),
                "data": {"person": {"id": "a-pm", "name": "A prime minister", "kind": "person"},
                         "office": "Prime Minister", "removed_by": parliament, "means": "dismissal"}},
        base | {"type": "SecurityForcesDeployed", "event_id": str(uuid.uuid4()),
                "data": {"force": {"id": "army-kg", "name": "Armed Forces", "kind": "security_force"},
                         "country_of_origin": "KG", "mandate": "enforce the state of emergency",
                         "area": "Bishkek", "strength": {"text": "about 1,000"}}},
        base | {"type": "CommunicationsShutdown", "event_id": str(uuid.uuid4()),
                "data": {"kind": "throttling", "scope": "regional", "area": "Chuy", "services": ["mobile_data"],
                         "start": "2020-10-09T12:00:00+06:00"}},
    ]  # fmt: skip
    await stack.post(*reports)
    timeline = (await stack.get(f"/v1/incidents/{incident}/timeline"))["items"]
    assert [e["type"] for e in timeline] == ["OfficialRemoved", "SecurityForcesDeployed", "CommunicationsShutdown"]
    lines = (await stack.query.get(f"/v1/incidents/{incident}/export.csv")).text.splitlines()
    rows = {row["event_type"]: row for row in csv.DictReader(lines[:1] + lines[2:])}
    assert rows["OfficialRemoved"]["actors"] == "person: A prime minister; removed by: Jogorku Kenesh"
    assert "strength about 1,000" in rows["SecurityForcesDeployed"]["description"]
    assert rows["CommunicationsShutdown"]["description"].startswith("Communications shutdown: kind throttling")


async def test_unknown_incidents_are_404_on_every_view(stack: Stack) -> None:
    for view in ("summary", "casualties", "elections", "detentions", "statements", "actors", "map", "export.csv"):
        response = await stack.query.get(f"/v1/incidents/{incident_id()}/{view}")
        assert response.status_code == 404, view
        assert "not found" in response.json()["error"]
    response = await stack.query.get(f"/v1/incidents/{incident_id()}/casualties", params={"as_of": "yesterday"})
    assert response.status_code == 422 and response.json()["details"][0]["loc"] == ["query", "as_of"]


async def test_a_second_different_crisis_works_through_the_same_views(stack: Stack) -> None:
    incident = incident_id()
    await stack.post(*scenario("xa-2021-valley-flood", incident))

    casualties = await stack.get(f"/v1/incidents/{incident}/casualties")
    killed = category(casualties, "killed")
    assert latest_by_source(killed) == {
        "Ministry of the Interior of Xandria": latest_by_source(killed)["Ministry of the Interior of Xandria"],
        "Xandrian Red Crescent": latest_by_source(killed)["Xandrian Red Crescent"],
    }  # the witness's "thousands" is retracted
    best = killed["best_supported"]["figure"]
    assert (best["count"]["value"], best["verification"]) == (52, "corroborated")
    assert [v["count"]["value"] for v in best["versions"]] == [37, 52]
    assert killed["range"] == {
        "lower": 24,
        "upper": 99,
        "unknown_bounds": [],
    }  # Red Crescent's "dozens" spans 24-99, above 52
    missing = category(casualties, "missing")
    assert missing["range"] == {"lower": 150, "upper": 999, "unknown_bounds": []}

    [suspects] = (await stack.get(f"/v1/incidents/{incident}/detentions"))["items"]
    assert suspects["status"] == "detained" and suspects["person"]["kind"] == "group"
    assert (await stack.get(f"/v1/incidents/{incident}/elections"))["items"] == []
    speakers = [s["speaker"]["id"] for s in (await stack.get(f"/v1/incidents/{incident}/statements"))["items"]]
    assert speakers == ["river-province-governor", "un-ocha"]
    assert (await stack.get(f"/v1/incidents/{incident}"))["status"] == "ongoing"
    features = (await stack.get(f"/v1/incidents/{incident}/map"))["features"]
    assert [-45.7012, -12.2101] in [f["geometry"]["coordinates"] for f in features]


async def test_timeline_filters_combine_with_cursor_paging(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, events = seed
    path = f"/v1/incidents/{incident}/timeline"

    async def ids(**params: Any) -> list[str]:
        return [e["event_id"] for e in (await stack.get(path, limit=500, **params))["items"]]

    by_actor = await ids(actor="almazbek-atambayev")
    assert [e["type"] for e in events if e["event_id"] in by_actor] == [
        "ActorRegistered", "PersonDetained", "PrisonerReleased"
    ]  # fmt: skip
    assert len(await ids(source="Government of Kyrgyzstan")) == 1
    searched = await ids(q="vote-buying")
    assert [e["type"] for e in events if e["event_id"] in searched] == ["ObserverFindingsPublished"]
    assert await ids(q="teargas water") == [e["event_id"] for e in events if e["type"] == "CrowdDispersed"]
    window = await ids(**{"from": "2020-10-06T00:00:00+06:00", "to": "2020-10-07T00:00:00+06:00"})
    assert window and all(
        "2020-10-06T00:00:00+06:00" <= e["occurred_at"] < "2020-10-07" for e in events if e["event_id"] in window
    )
    first = await stack.get(path, limit=2, source="Local media")
    second = await stack.get(path, limit=2, source="Local media", cursor=first["next_cursor"])
    assert len(first["items"] + second["items"]) == 4 and second["next_cursor"] is not None

    latest = (await stack.get(f"/v1/events/{events[-1]['event_id']}"))["event"]["recorded_at"]
    late = {**events[0], "event_id": str(uuid.uuid4()), "type": "StatementIssued",
            "data": {"speaker": {"id": "late", "name": "Late", "kind": "person"}, "quote": "Later."}}  # fmt: skip
    await stack.post(late)
    assert late["event_id"] in await ids()
    assert late["event_id"] not in await ids(as_of=latest)


async def test_incidents_and_events_answer_as_of_a_recorded_time(stack: Stack) -> None:
    incident = incident_id()
    events = scenario("kg-2020-election", incident)
    opened, later = events[0], next(e for e in events if e["type"] == "StatementIssued")
    await stack.post(opened)
    then = (await stack.get(f"/v1/events/{opened['event_id']}"))["event"]["recorded_at"]
    update = {**opened, "event_id": str(uuid.uuid4()), "type": "IncidentUpdated", "data": {"status": "resolved"}}
    merge = {**opened, "event_id": str(uuid.uuid4()), "type": "IncidentMerged", "data": {"into": "kg-2020-protests"}}
    await stack.post(later, update, merge)

    now = await stack.get(f"/v1/incidents/{incident}")
    assert (now["status"], now["merged_into"], now["event_count"]) == ("resolved", "kg-2020-protests", 4)
    past = await stack.get(f"/v1/incidents/{incident}", as_of=then)
    assert (past["status"], past["merged_into"], past["event_count"]) == ("developing", None, 1)
    assert past["title"] == now["title"] == opened["data"]["title"]
    assert past["counts_by_type"] == {"IncidentOpened": 1}
    listed = (await stack.get("/v1/incidents", as_of=then, limit=500))["items"]
    assert [i for i in listed if i["incident_id"] == incident] == [past]
    response = await stack.query.get(f"/v1/events/{later['event_id']}", params={"as_of": then})
    assert response.status_code == 404


async def test_the_summary_gives_headline_figures_and_key_facts(
    stack: Stack, seed: tuple[str, list[dict[str, Any]]]
) -> None:
    incident, _ = seed
    summary = await stack.get(f"/v1/incidents/{incident}/summary")
    injured = next(h for h in summary["headline_figures"] if h["category"] == "injured")
    assert (injured["best_supported"]["value"], injured["source"], injured["sources"]) == (590, GOVERNMENT, 2)
    assert injured["range"] == {"lower": 200, "upper": 999, "unknown_bounds": []}
    facts = summary["key_facts"]
    assert facts[0].startswith("election parliamentary-2020: annulled by Central Election Commission of Kyrgyzstan")
    assert facts[1].startswith("5 released: Almazbek Atambayev")
