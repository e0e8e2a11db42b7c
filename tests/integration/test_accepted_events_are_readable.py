"""Property (hypothesis, real servers): any event that ingest accepts is projected, not dead-lettered, and every
read endpoint then answers 2xx, for that incident and for the global lists.

Events are generated from each type's JSON Schema with the bounds taken out (integers of any size, any year
from 1 to 9999, UTC offsets up to ±23:59), so the test does not assume the bounds it checks: ingest must refuse (4xx)
whatever a layer behind it cannot store or read back. One accepted year-1 time with a +14:00 offset broke 9 of 12
endpoints for everyone; a count of 2^31 was dead-lettered.

The types that name another event (corrections, retractions, verification, links) are left out: their target
must exist, and the read models dead-letter them by design when it does not.

The generated events are short (texts of 40 characters, lists of 3 at most); the largest events the contract allows
are tried on their own, once alone and once in a batch.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemas.catalogue import EVENT_TYPES
from schemas.envelope import EventSubmission
from schemas.events.facts import EventsLinked, ReportCorrected, ReportRetracted, VerificationChanged
from services.common.settings import Settings
from tests.conftest import incident_id
from tests.stack import Stack, running_stack
from tests.waiting import wait_until

T = TypeVar("T")

hypothesis_settings.register_profile(
    "accepted-events",
    max_examples=50,  # each one is a write, a projection and a dozen reads on a 2-core machine
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
REFERRING = {ReportCorrected, ReportRetracted, VerificationChanged, EventsLinked}
CALL_TIMEOUT_S = 60.0

# Plausible values first: hypothesis leans towards the first branches, and an event refused tests little.
OFFSETS = st.sampled_from(["+06:00", "Z", "-05:00", "+05:45"]) | st.sampled_from(
    ["+14:00", "-14:00", "+14:01", "-12:00", "+23:59", "-23:59"]
)
YEARS = st.integers(1990, 2025) | st.sampled_from([1, 1899, 1900, 2099, 2100, 9999]) | st.integers(1, 9999)
# Control characters are refused by ingest's hygiene, tested on its own; here they would only crowd out the rest.
TEXT = st.characters(exclude_categories=["Cc", "Cs"])


@st.composite
def any_date(draw: st.DrawFn) -> str:
    return f"{draw(YEARS):04d}-{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}"


@st.composite
def any_time(draw: st.DrawFn) -> str:
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    return f"{draw(any_date())}T{hour:02d}:{minute:02d}:{second:02d}{draw(OFFSETS)}"


FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date-time": any_time(),
    "date": any_date(),
    "uuid": st.uuids().map(str),
    "uri": st.sampled_from(["https://example.org/report", "http://example.org/a?b=c#d"]),
}
# No `maximum`: the bound is what is under test. Most small, some huge.
INTEGERS = st.integers(min_value=0, max_value=10**6) | st.sampled_from([2**31 - 1, 2**31, 2**63, 10**30])


def strategy(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for a JSON Schema as pydantic writes them, with the bounds under test left out: times and dates
    of any year and offset, integers of any size. Lengths and patterns are kept (they are not under test)."""
    if "$ref" in schema:
        return strategy(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([strategy(option, defs) for option in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return objects(schema, defs)
    if kind == "array":
        items = strategy(schema["items"], defs)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "string":
        if schema.get("format") in FORMATS:
            return FORMATS[schema["format"]]
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda text: low <= len(text) <= high)
        return st.text(TEXT, min_size=low, max_size=high)
    if kind == "integer":
        return INTEGERS
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise AssertionError(f"no strategy for {schema}")


@st.composite
def objects(draw: st.DrawFn, schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    required = set(schema.get("required", ()))
    return {
        name: draw(strategy(field, defs))
        for name, field in schema["properties"].items()
        if name in required or draw(st.booleans())
    }


def submissions() -> st.SearchStrategy[dict[str, Any]]:
    """Submissions of every type that names no other event, each under a fresh incident."""
    variants = []
    for name, cls in EVENT_TYPES.items():
        if cls in REFERRING:
            continue
        schema = EventSubmission[cls].model_json_schema()  # type: ignore[valid-type]
        pinned: dict[str, Any] = {"type": name, "schema_version": cls.schema_version}
        variants.append(st.tuples(strategy(schema, schema.get("$defs", {})), st.just(pinned)))
    # Ingest makes the event id: a generated one could repeat across examples, and be taken as a duplicate.
    return st.one_of(variants).map(lambda drawn: drawn[0] | drawn[1] | {"incident_id": incident_id(), "event_id": None})


def examples(events: list[dict[str, Any]]) -> Callable[[Callable[[dict[str, Any]], None]], Any]:
    def decorate(test: Callable[[dict[str, Any]], None]) -> Any:
        for event in events:
            test = example(event)(test)
        return test

    return decorate


class BackgroundLoop:
    """An event loop in a thread, for hypothesis (which calls the test synchronously) to drive the async stack."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="property-loop", daemon=True)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT_S)

    @contextmanager
    def running(self) -> Iterator[BackgroundLoop]:
        self._thread.start()
        try:
            yield self
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
            self.loop.close()


def actor_ids(value: Any) -> set[str]:
    """The ids of the actor references anywhere in an event (a dict with id, name and kind)."""
    if isinstance(value, list):
        return {found for item in value for found in actor_ids(item)}
    if not isinstance(value, dict):
        return set()
    own = {value["id"]} if {"id", "name", "kind"} <= value.keys() and isinstance(value["id"], str) else set()
    return own.union(*(actor_ids(item) for item in value.values()))


async def projected(database_url: str, seq: int) -> str | None:
    """Once every projection has passed `seq`: the dead-letter errors of that event, or None when it has none."""

    async def checkpoint() -> int:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            row = await (await conn.execute("SELECT COALESCE(min(last_seq), 0) FROM projection_checkpoints")).fetchone()
            return int(row[0]) if row else 0

    await wait_until(checkpoint, lambda last: last >= seq, what=f"every projection to pass {seq}")
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        errors = await (await conn.execute("SELECT error FROM dead_letters WHERE stream_seq = %s", (seq,))).fetchall()
    return "; ".join(row[0] for row in errors) or None


def read_paths(event: dict[str, Any], event_id: str) -> list[str]:
    incident = f"/v1/incidents/{event['incident_id']}"
    per_incident = ["", "/timeline", "/casualties", "/summary", "/elections", "/detentions", "/statements", "/actors"]
    return [
        "/v1/incidents",
        "/v1/actors",
        f"/v1/events/{event_id}",
        *(incident + suffix for suffix in [*per_incident, "/map", "/export.csv"]),
        *(f"/v1/actors/{actor}" for actor in sorted(actor_ids(event))),
    ]


async def outcome(stack: Stack, database_url: str, event: dict[str, Any], in_batch: bool) -> str:
    """Either `refused: <why>` (a 4xx), or `readable` once projected and read; fails otherwise. `in_batch`: posted
    twice in one batch (each copy its own event id), which ingest stores as one atomic batch."""
    if in_batch:
        posted = await stack.ingest.post("/v1/events/batch", json={"events": [event, event]})
    else:
        posted = await stack.ingest.post("/v1/events", json=event)
    if posted.status_code != 202:
        assert 400 <= posted.status_code < 500, posted.text
        return f"refused: {posted.text[:200]}"
    stored = posted.json()["results"] if in_batch else [posted.json()]
    for published in stored:
        dead = await projected(database_url, published["seq"])
        assert dead is None, f"accepted, then dead-lettered: {dead}"
    failures = []
    for path in read_paths(event, stored[0]["event_id"]):
        for params in ({}, {"as_of": datetime.now(UTC).isoformat()}):  # as_of reads fold the rows themselves
            response = await stack.query.get(path, params=params)
            if not 200 <= response.status_code < 300:
                failures.append((path, params, response.status_code, response.text[:200]))
    assert failures == [], f"accepted {event}, then reads failed"
    return "readable"


def report(event_type: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "incident_id": incident_id(),
        "occurred_at": "2020-10-06T05:00:00+06:00",
        "source": {"name": "Wire", "kind": "media"},
        "data": data,
        **envelope,
    }


PERSON = {"id": "someone", "name": "Someone", "kind": "person"}
# The defects found by hand, always tried first (hypothesis may not draw them in a few dozen examples).
KNOWN_BREAKERS = [
    report("IncidentOpened", {"title": "BC"}, occurred_at="0001-01-01T00:00:00+14:00"),
    report("CasualtiesReported", {"figures": [{"category": "injured", "count": {"value": 2**31}}]}),
    report("CasualtiesReported", {"figures": [{"category": "killed", "count": {"min": 1, "max": 10**30}}]}),
    report("StateOfEmergencyDeclared", {"declared_by": PERSON, "area": "x", "until": "9999-12-31T23:59:59-14:00"}),
    report("ActorRegistered", {"actor": PERSON, "roles": [{"title": "t", "start": "0001-01-01"}]}),
    report(
        "ResultsAnnounced",
        {"election_id": "e", "stage": "final", "announced_by": PERSON, "results": [{"party": "p", "seats": 2**63}]},
    ),
]


def test_any_event_ingest_accepts_is_projected_and_readable(settings: Settings, database_url: str) -> None:
    outcomes: list[str] = []
    with BackgroundLoop().running() as background:
        stack_context = running_stack(settings.model_copy(update={"min_position_wait_s": 0}), projector=True)
        stack = background.run(stack_context.__aenter__())
        try:

            @hypothesis_settings(hypothesis_settings.get_profile("accepted-events"))
            @given(submissions())
            @examples(KNOWN_BREAKERS)
            def accepted_events_are_readable(event: dict[str, Any]) -> None:
                in_batch = len(outcomes) % 2 == 1  # every other example through the batch endpoint
                outcomes.append(background.run(outcome(stack, database_url, event, in_batch)))

            accepted_events_are_readable()
        finally:
            background.run(stack_context.__aexit__(None, None, None))
    # The property says something only if ingest accepted a fair share of what was generated.
    assert outcomes.count("readable") >= 5, "\n".join(outcomes)


def _word(number: int) -> str:
    """Nine letters (mathematical bold capitals, 4 bytes each in UTF-8) spelling `number` in base 26."""
    letters = []
    for _ in range(9):
        number, digit = divmod(number, 26)
        letters.append(chr(0x1D400 + digit))
    return "".join(letters)


def longest(length: int, words: Iterator[int]) -> str:
    """A text of `length` characters of 4 bytes each, as words of nine letters that are all new: the most bytes a
    text of that length can take, and the most words it can give the search index."""
    text = " ".join(_word(next(words)) for _ in range(length // 10 + 1))[:length]
    return text[:-1] + _word(0)[0] if text.endswith(" ") else text


def largest_events() -> list[dict[str, Any]]:
    """Every list full and every text at its length, the envelope's too: an event of each of the two types with the
    most bytes, and of the one that names the most actors (200 members of a body)."""
    words = itertools.count()

    def actor(number: int) -> dict[str, Any]:
        slug = f"a{number:03d}"
        return {
            "id": slug + "x" * (64 - len(slug)),
            "name": longest(200, words),
            "kind": "ngo",
            "role": longest(200, words),
        }

    def event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        return report(
            event_type,
            data,
            source={
                "name": longest(200, words),
                "kind": "media",
                "via": longest(200, words),
                "url": "https://example.org/" + "a" * 2063,
            },
            location={
                "name": longest(200, words),
                "country": "KG",
                "admin_area": longest(200, words),
                "lat": -42.874621,
                "lon": 74.569762,
            },
            correlation_id="c" * 128,
            causation_id=str(uuid.uuid4()),
            occurred_precision="minute",
            reported_at="2020-10-06T05:30:00.123456+06:00",
        )

    return [
        event(
            "ProtestReported",
            {
                "sub_type": "excessive_force_against_protesters",
                "size": {"value": 2**31 - 1},
                "organisers": [longest(200, words) for _ in range(50)],
                "demands": [longest(2000, words) for _ in range(50)],
                "description": longest(2000, words),
            },
        ),
        event(
            "BodyFormed",
            {"body": actor(999), "members": [actor(n) for n in range(200)], "purpose": longest(2000, words)},
        ),
        event(
            "ObserverFindingsPublished",
            {
                "observer": actor(998),
                "findings": [longest(2000, words) for _ in range(50)],
                "quote": longest(2000, words),
            },
        ),
    ]


@pytest.mark.parametrize("in_batch", [False, True], ids=["alone", "in a batch"])
async def test_the_largest_events_are_stored_projected_and_read_back(
    settings: Settings, database_url: str, in_batch: bool
) -> None:
    async with running_stack(settings, projector=True) as stack:
        for event in largest_events():
            assert len(orjson.dumps(event)) > 300_000  # 333-421 KB as posted
            assert await outcome(stack, database_url, event, in_batch) == "readable", event["type"]
