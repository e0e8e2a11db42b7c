"""The query API over a real PostgreSQL: rows are written straight into the read models, as the projector would."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from psycopg import sql
from psycopg.types.json import Jsonb

from schemas.catalogue import parse_event, payload_class
from schemas.envelope import Event
from schemas.subjects import event_subject
from services.common.frozen_heap import SERVING_YOUNG_THRESHOLD
from services.common.ports import free_port
from services.common.settings import Settings
from services.query.app import create_app
from tests.waiting import wait_until

Conn = psycopg.AsyncConnection[Any]

BISHKEK = timezone(timedelta(hours=6))
T0 = datetime(2020, 10, 5, 18, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
INCIDENT = "kg-2020-election"

PAYLOADS: dict[str, dict[str, Any]] = {
    "IncidentOpened": {"title": "Kyrgyzstan parliamentary election dispute"},
    "StatementIssued": {
        "speaker": {"id": "sooronbai-jeenbekov", "name": "Sooronbay Jeenbekov", "kind": "person"},
        "quote": "Stay calm.",
        "language": "ky",
    },
    "CasualtiesReported": {"figures": [{"category": "injured", "count": {"value": 590}}]},
    "ResultsAnnulled": {
        "election_id": "parl-2020",
        "annulled_by": {
            "id": "central-election-commission-kg",
            "name": "Central Election Commission",
            "kind": "state_body",
        },
        "reason": "tension",
    },
}


def build_event(event_type: str, occurred_at: datetime, incident_id: str = INCIDENT, **envelope: Any) -> Event[Any]:
    cls = payload_class(event_type)
    return Event[cls].model_validate(  # type: ignore[valid-type]
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "incident_id": incident_id,
            "occurred_at": occurred_at,
            "recorded_at": datetime(2020, 10, 7, 9, 30, 15, 123456, tzinfo=UTC),
            "source": {"name": "AKIpress", "kind": "media", "via": "Interfax"},
            "data": PAYLOADS[event_type],
            **envelope,
        }
    )


async def record(conn: Conn, seq: int, event: Event[Any]) -> None:
    """The event_log row the projector writes for `event` at stream sequence `seq`."""
    await conn.execute(
        """
        INSERT INTO event_log (stream_seq, event_id, subject, type, schema_version, incident_id, occurred_at,
                               reported_at, recorded_at, source_name, source_kind, correlation_id, envelope)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            seq,
            event.event_id,
            event_subject(event.incident_id, event.type),
            event.type,
            event.schema_version,
            event.incident_id,
            event.occurred_at,
            event.reported_at,
            event.recorded_at,
            event.source.name,
            event.source.kind.value,
            event.correlation_id,
            Jsonb(event.model_dump(mode="json")),
        ),
    )


async def insert_incident(conn: Conn, incident_id: str, last_position: int = 1, **columns: Any) -> None:
    row: dict[str, Any] = {
        "incident_id": incident_id,
        "title": f"Incident {incident_id}",
        "status": "developing",
        "event_count": 1,
        "counts_by_type": {"IncidentOpened": 1},
        "first_occurred_at": T0,
        "last_occurred_at": T0,
        "last_position": last_position,
        "updated_at": T0 + HOUR,
        **columns,
    }
    row["counts_by_type"] = Jsonb(row["counts_by_type"])
    await conn.execute(
        """
        INSERT INTO incidents (incident_id, title, status, event_count, counts_by_type, first_occurred_at,
                               last_occurred_at, last_position, updated_at)
        VALUES (%(incident_id)s, %(title)s, %(status)s, %(event_count)s, %(counts_by_type)s,
                %(first_occurred_at)s, %(last_occurred_at)s, %(last_position)s, %(updated_at)s)
        """,
        row,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Conn]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


@asynccontextmanager
async def start_query(settings: Settings, database_timeout_s: float = 5.0) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings.model_copy(update={"database_timeout_s": database_timeout_s})
    async with (
        LifespanManager(create_app(settings)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://query") as client,
    ):
        yield client


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with start_query(Settings(database_url=database_url, data_dir=tmp_path)) as c:
        yield c


async def pages(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list, following next_cursor to the end."""
    collected: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        collected.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return collected
        assert len(collected) < 50, "next_cursor never ends"


# --- incidents ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [7, 9])  # a short last page, and a full one (no empty page may follow it)
async def test_incident_list_pages_give_every_incident_once_in_byte_order(
    client: httpx.AsyncClient, db: Conn, count: int
) -> None:
    # Hyphens and digits sort differently under a natural-language collation than in byte order.
    ids = ["a-b", "ab", "a1", "a", "b-a", "0-z", "z", "a-c", "m"][:count]
    for i, incident_id in enumerate(ids):
        await insert_incident(db, incident_id, last_position=i + 1)

    got = await pages(client, "/v1/incidents", limit=3)

    assert [len(p["items"]) for p in got] == [3, 3, count - 6]
    listed = [item["incident_id"] for p in got for item in p["items"]]
    assert listed == sorted(ids)


async def test_incident_list_default_limit_is_50(client: httpx.AsyncClient, db: Conn) -> None:
    for i in range(51):
        await insert_incident(db, f"incident-{i:02d}")
    first = (await client.get("/v1/incidents")).json()
    assert len(first["items"]) == 50
    rest = (await client.get("/v1/incidents", params={"cursor": first["next_cursor"]})).json()
    assert [i["incident_id"] for i in rest["items"]] == ["incident-50"]
    assert rest["next_cursor"] is None


async def test_empty_incident_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/incidents")
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("limit", [0, 501, -1])
async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, limit: int) -> None:
    for url in ("/v1/incidents", f"/v1/incidents/{INCIDENT}/timeline"):
        response = await client.get(url, params={"limit": limit})
        assert response.status_code == 422
        assert response.json()["details"][0]["loc"] == ["query", "limit"]


async def test_incident_detail(client: httpx.AsyncClient, db: Conn) -> None:
    await insert_incident(
        db,
        INCIDENT,
        title="Kyrgyzstan parliamentary election dispute",
        status="ongoing",
        event_count=3,
        counts_by_type={"IncidentOpened": 1, "StatementIssued": 2},
        first_occurred_at=T0.astimezone(BISHKEK),
        last_occurred_at=datetime(2020, 10, 6, 5, 30, 0, 250000, tzinfo=BISHKEK),
        last_position=17,
        updated_at=datetime(2020, 10, 7, 9, 30, tzinfo=UTC),
    )
    await insert_incident(db, "another-incident")

    response = await client.get(f"/v1/incidents/{INCIDENT}")

    assert response.status_code == 200
    assert response.json() == {
        "incident_id": INCIDENT,
        "title": "Kyrgyzstan parliamentary election dispute",
        "status": "ongoing",
        "description": None,
        "merged_into": None,
        "event_count": 3,
        "counts_by_type": {"IncidentOpened": 1, "StatementIssued": 2},
        "first_occurred_at": "2020-10-05T18:00:00Z",
        "last_occurred_at": "2020-10-05T23:30:00.250000Z",
        "last_position": 17,
        "updated_at": "2020-10-07T09:30:00Z",
    }
    listed = (await client.get("/v1/incidents")).json()["items"]
    assert [i for i in listed if i["incident_id"] == INCIDENT] == [response.json()]


async def test_times_are_answered_in_utc_whatever_the_session_time_zone(
    database_url: str, db: Conn, tmp_path: Path
) -> None:
    # New sessions (the query service's pool) get a time zone other than the server's UTC.
    alter = sql.SQL("ALTER DATABASE {} SET timezone TO 'Asia/Bishkek'").format(sql.Identifier(db.info.dbname))
    await db.execute(alter)
    await insert_incident(db, INCIDENT)
    await record(db, 1, build_event("IncidentOpened", T0))

    async with start_query(Settings(database_url=database_url, data_dir=tmp_path)) as client:
        incident = (await client.get(f"/v1/incidents/{INCIDENT}")).json()
        entry = (await client.get(f"/v1/incidents/{INCIDENT}/timeline")).json()["items"][0]

    assert (incident["first_occurred_at"], incident["updated_at"]) == ("2020-10-05T18:00:00Z", "2020-10-05T19:00:00Z")
    assert (entry["occurred_at"], entry["recorded_at"]) == ("2020-10-05T18:00:00Z", "2020-10-07T09:30:15.123456Z")


async def test_incident_not_yet_titled(client: httpx.AsyncClient, db: Conn) -> None:
    await insert_incident(db, INCIDENT, title=None, status=None)
    body = (await client.get(f"/v1/incidents/{INCIDENT}")).json()
    assert (body["title"], body["status"]) == (None, None)


async def test_unknown_ids_are_404_with_a_body(client: httpx.AsyncClient, db: Conn) -> None:
    await insert_incident(db, INCIDENT)
    missing_event = uuid.uuid4()
    for url, error in [
        ("/v1/incidents/nowhere", "incident 'nowhere' not found"),
        ("/v1/incidents/nowhere/timeline", "incident 'nowhere' not found"),
        (f"/v1/events/{missing_event}", f"event '{missing_event}' not found"),
    ]:
        response = await client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"error": error}


@pytest.mark.parametrize("bad_id", ["Not_A_Slug", "kg--2020", "-kg", "x" * 65])
async def test_an_incident_id_that_is_not_a_slug_is_422_naming_it(client: httpx.AsyncClient, bad_id: str) -> None:
    for url in (f"/v1/incidents/{bad_id}", f"/v1/incidents/{bad_id}/timeline"):
        response = await client.get(url)
        assert response.status_code == 422, url
        body = response.json()
        assert body["error"] == "invalid request"
        assert [d["loc"] for d in body["details"]] == [["path", "incident_id"]]


# --- timeline -------------------------------------------------------------------------------------------------


async def kyrgyz_timeline(db: Conn) -> dict[int, Event[Any]]:
    """Events by stream sequence; stream order is not the order in which they happened."""
    events = {
        10: build_event("IncidentOpened", T0),
        12: build_event("StatementIssued", T0 + HOUR),
        11: build_event("CasualtiesReported", (T0 + HOUR).astimezone(BISHKEK)),  # same instant as 12
        13: build_event("ResultsAnnulled", T0 - HOUR),  # reported last, happened first
        14: build_event("StatementIssued", T0, incident_id="another-incident"),
    }
    await insert_incident(db, INCIDENT, last_position=13)
    for seq, event in events.items():  # inserted out of sequence order on purpose
        await record(db, seq, event)
    return events


async def test_timeline_is_ordered_by_occurred_at_then_position(client: httpx.AsyncClient, db: Conn) -> None:
    await kyrgyz_timeline(db)

    response = await client.get(f"/v1/incidents/{INCIDENT}/timeline")

    assert response.status_code == 200
    body = response.json()
    assert [e["position"] for e in body["items"]] == [13, 10, 11, 12]
    assert body["next_cursor"] is None


async def test_timeline_entry_carries_the_envelope_fields(client: httpx.AsyncClient, db: Conn) -> None:
    event = build_event(
        "CasualtiesReported",
        datetime(2020, 10, 6, 0, 30, tzinfo=BISHKEK),
        occurred_precision="hour",
        reported_at=datetime(2020, 10, 6, 9, 0, tzinfo=BISHKEK),
        location={"name": "Ala-Too Square", "country": "KG", "admin_area": "Bishkek", "lat": 42.876, "lon": 74.604},
    )
    await record(db, 5, event)

    (entry,) = (await client.get(f"/v1/incidents/{INCIDENT}/timeline")).json()["items"]

    assert entry == {
        "position": 5,
        "event_id": str(event.event_id),
        "type": "CasualtiesReported",
        "occurred_at": "2020-10-06T00:30:00+06:00",  # the source's offset kept
        "occurred_on": "2020-10-06",  # the source's day
        "occurred_precision": "hour",
        "reported_at": "2020-10-06T09:00:00+06:00",
        "recorded_at": "2020-10-07T09:30:15.123456Z",
        "source": {"name": "AKIpress", "kind": "media", "url": None, "via": "Interfax"},
        "location": {"name": "Ala-Too Square", "country": "KG", "admin_area": "Bishkek", "lat": 42.876, "lon": 74.604},
        "data": {
            "figures": [
                {
                    "category": "injured",
                    "group": "total",
                    "count": {"value": 590, "min": None, "max": None, "text": None},
                }
            ],
            "description": None,
        },
        "verification": "reported",
    }


async def test_timeline_of_an_incident_known_only_to_the_incidents_model_is_empty(
    client: httpx.AsyncClient, db: Conn
) -> None:
    await insert_incident(db, INCIDENT)
    response = await client.get(f"/v1/incidents/{INCIDENT}/timeline")
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_timeline_filters_by_type(client: httpx.AsyncClient, db: Conn) -> None:
    await kyrgyz_timeline(db)
    url = f"/v1/incidents/{INCIDENT}/timeline"

    both = await client.get(url, params=[("type", "CasualtiesReported"), ("type", "ResultsAnnulled")])
    one = await client.get(url, params={"type": "StatementIssued"})
    none = await client.get(url, params={"type": "PrisonerReleased"})

    assert [e["position"] for e in both.json()["items"]] == [13, 11]
    assert [(e["position"], e["type"]) for e in one.json()["items"]] == [(12, "StatementIssued")]
    assert none.status_code == 200  # the incident exists; it just has no such events
    assert none.json() == {"items": [], "next_cursor": None}


async def test_timeline_pages_split_events_of_the_same_moment(client: httpx.AsyncClient, db: Conn) -> None:
    moments = [T0, T0, T0 + HOUR, T0 + HOUR, T0 + HOUR, T0 - HOUR, T0 + 2 * HOUR]
    for seq, at in enumerate(moments, start=1):
        await record(db, seq, build_event("StatementIssued" if seq % 2 else "CasualtiesReported", at))
    expected = [seq for _, seq in sorted((at, seq) for seq, at in enumerate(moments, start=1))]
    assert expected == [6, 1, 2, 3, 4, 5, 7]  # pages of 2 end inside both ties

    got = await pages(client, f"/v1/incidents/{INCIDENT}/timeline", limit=2)
    filtered = await pages(client, f"/v1/incidents/{INCIDENT}/timeline", limit=1, type="StatementIssued")

    assert [len(p["items"]) for p in got] == [2, 2, 2, 1]
    assert [e["position"] for p in got for e in p["items"]] == expected
    assert [e["position"] for p in filtered for e in p["items"]] == [1, 3, 5, 7]


async def test_unknown_event_type_filter_is_422(client: httpx.AsyncClient, db: Conn) -> None:
    await kyrgyz_timeline(db)
    response = await client.get(
        f"/v1/incidents/{INCIDENT}/timeline", params=[("type", "StatementIssued"), ("type", "MadeUp")]
    )
    assert response.status_code == 422
    (detail,) = response.json()["details"]
    assert detail["loc"] == ["query", "type", 1]
    assert "unknown event type 'MadeUp'" in detail["msg"]


@pytest.mark.parametrize(
    ("url", "cursor"),
    [
        ("/v1/incidents", "!!!"),
        ("/v1/incidents", "bm90IGpzb24"),  # base64 of "not json"
        (f"/v1/incidents/{INCIDENT}/timeline", "WyJrZy0yMDIwLWVsZWN0aW9uIl0"),  # an incidents cursor
        (f"/v1/incidents/{INCIDENT}/timeline", ""),
    ],
)
async def test_malformed_cursor_is_400(client: httpx.AsyncClient, db: Conn, url: str, cursor: str) -> None:
    await kyrgyz_timeline(db)
    response = await client.get(url, params={"cursor": cursor})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed cursor: pass back the next_cursor of the previous page unchanged"
    assert [d["loc"] for d in body["details"]] == [["query", "cursor"]]


# --- events ---------------------------------------------------------------------------------------------------


async def test_event_by_id_is_the_stored_envelope_with_position_and_subject(
    client: httpx.AsyncClient, db: Conn
) -> None:
    events = await kyrgyz_timeline(db)

    response = await client.get(f"/v1/events/{events[11].event_id}")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "position": 11,
        "subject": f"crisis.events.{INCIDENT}.CasualtiesReported",
        "event": events[11].model_dump(mode="json"),
        "verification": "reported",
    }
    assert parse_event(body["event"]) == events[11]


async def test_event_id_that_is_not_a_uuid_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/events/not-a-uuid")
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["details"]] == [["path", "event_id"]]


# --- position -------------------------------------------------------------------------------------------------


async def test_x_position_is_the_lowest_checkpoint(client: httpx.AsyncClient, db: Conn) -> None:
    events = await kyrgyz_timeline(db)
    urls = [
        "/v1/incidents",
        f"/v1/incidents/{INCIDENT}",
        f"/v1/incidents/{INCIDENT}/timeline",
        f"/v1/events/{events[10].event_id}",
        "/v1/incidents/nowhere",
        f"/v1/events/{uuid.uuid4()}",
    ]
    assert [(await client.get(u)).headers.get("X-Position") for u in urls] == ["0"] * len(urls)

    await db.execute("INSERT INTO projection_checkpoints (projection, last_seq) VALUES ('event_log', 14)")
    await db.execute("INSERT INTO projection_checkpoints (projection, last_seq) VALUES ('incidents', 12)")

    assert [(await client.get(u)).headers.get("X-Position") for u in urls] == ["12"] * len(urls)


@pytest.mark.parametrize("url", [f"/v1/incidents/{INCIDENT}/timeline", f"/v1/events?incident={INCIDENT}"])
async def test_a_page_and_its_x_position_are_read_in_one_snapshot(
    client: httpx.AsyncClient, db: Conn, database_url: str, url: str
) -> None:
    """The page holds no entry beyond its X-Position even when the projector commits while the page is read: a
    position read by a statement of its own, before the page's, would be older than the page."""
    await kyrgyz_timeline(db)
    await db.execute("INSERT INTO projection_checkpoints (projection, last_seq) VALUES ('event_log', 14)")

    async def readers_waiting_for_the_log() -> int:
        cur = await db.execute("SELECT count(*) FROM pg_locks WHERE relation = 'event_log'::regclass AND NOT granted")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async with await psycopg.AsyncConnection.connect(database_url) as projector:  # one transaction, as it commits
        await projector.execute("LOCK TABLE event_log IN ACCESS EXCLUSIVE MODE")
        read = asyncio.create_task(client.get(url))
        await wait_until(readers_waiting_for_the_log, lambda waiting: waiting > 0, what="the read to reach the log")
        await record(projector, 15, build_event("StatementIssued", T0 + 2 * HOUR))
        await projector.execute("UPDATE projection_checkpoints SET last_seq = 15")
        await projector.commit()
    response = await read

    assert response.status_code == 200
    assert response.headers["X-Position"] == "15"
    assert [entry["position"] for entry in response.json()["items"]] == [13, 10, 11, 12, 15]


# --- PostgreSQL down ------------------------------------------------------------------------------------------


@pytest.fixture
async def client_without_postgres(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The query service pointed at a loopback port where nothing listens; it must start all the same."""
    settings = Settings(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/crisis", data_dir=tmp_path)
    async with start_query(settings, database_timeout_s=0.2) as c:
        yield c


# A fixed unknown event id: test ids must be the same in every pytest-xdist worker (each collects the suite itself).
UNKNOWN_EVENT = "/v1/events/00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("url", ["/v1/incidents", f"/v1/incidents/{INCIDENT}/timeline", UNKNOWN_EVENT])
async def test_reads_are_503_with_retry_after_when_postgres_is_unreachable(
    client_without_postgres: httpx.AsyncClient, url: str
) -> None:
    started = time.monotonic()
    response = await client_without_postgres.get(url)

    assert time.monotonic() - started < 3  # the 0.2 s pool timeout, not psycopg's 30 s default
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"].startswith("service unavailable: PostgreSQL did not answer (PoolTimeout")
    assert (await client_without_postgres.get("/healthz")).status_code == 200


async def test_readyz_is_503_naming_postgres_when_unreachable(client_without_postgres: httpx.AsyncClient) -> None:
    response = await client_without_postgres.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["postgres"].startswith("unavailable: PostgreSQL did not answer")


async def test_readyz_503_carries_retry_after(client_without_postgres: httpx.AsyncClient) -> None:
    response = await client_without_postgres.get("/readyz")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


async def test_readyz_when_postgres_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"postgres": "ok"}}


async def test_what_the_query_service_loaded_at_start_is_out_of_the_collectors_sight_while_it_runs(
    database_url: str, tmp_path: Path
) -> None:
    thresholds = gc.get_threshold()
    async with start_query(Settings(database_url=database_url, data_dir=tmp_path)) as client:
        frozen = gc.get_freeze_count()
        running = gc.get_threshold()
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert frozen > 10_000  # the app, its models and every imported module
    assert running == (SERVING_YOUNG_THRESHOLD, *thresholds[1:])  # young collections spaced out
    assert gc.get_freeze_count() == 0  # and collectable again once it stops
    assert gc.get_threshold() == thresholds


async def test_a_connection_lost_mid_use_is_503_and_the_next_request_reconnects(
    client: httpx.AsyncClient, db: Conn
) -> None:
    """PostgreSQL restarted under the pool: the pooled connection is dead (the pool does not check it on
    checkout), the query on it raises OperationalError, and the client gets 503, not 500."""
    await insert_incident(db, INCIDENT)
    assert (await client.get("/v1/incidents")).status_code == 200

    others = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    terminated = await (await db.execute(f"SELECT pid, pg_terminate_backend(pid) FROM ({others}) AS o")).fetchall()

    async def remaining() -> set[int]:
        # Only those: a connection the service opens again at once (its listener's) is not the pooled one.
        return {pid for (pid,) in await (await db.execute(others)).fetchall()} & {pid for pid, _ in terminated}

    await wait_until(remaining, lambda pids: not pids, within=10, what="the pooled connection to be terminated")

    lost = await client.get("/v1/incidents")
    assert lost.status_code == 503
    assert "Retry-After" in lost.headers
    assert lost.json()["error"].startswith("service unavailable: PostgreSQL did not answer")

    # Each dead pooled connection fails one request; the pool replaces them, so answers come back.
    again = await wait_until(lambda: client.get("/v1/incidents"), lambda r: r.status_code == 200, within=10)
    assert [i["incident_id"] for i in again.json()["items"]] == [INCIDENT]
