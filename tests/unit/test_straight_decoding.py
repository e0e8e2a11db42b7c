"""`parse_event` of the stream's bytes validates most events straight from the JSON (schemas/json_validation.py):
it must decode every event exactly as the full path does (orjson, upcasting, then the envelope's validation of
the dict), and refuse every event the full path refuses, with the full path's error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalogue import _straight, parse_event
from schemas.envelope import Event
from services.cli.bench.workload import Mix, submissions
from services.ingest.ownership import stamped, writer_body
from tests.factories import make_event

RECORDED = datetime(2026, 1, 1, tzinfo=UTC).isoformat()


def full_path(raw: bytes) -> Event[Any]:
    """`parse_event` as it was before the straight path: orjson, then the dict's upcasting and validation."""
    decoded = orjson.loads(raw)
    if not isinstance(decoded, dict):
        raise ValueError("an event must be a JSON object")
    return parse_event(decoded)


def outcome(decode: Any, raw: bytes) -> tuple[Any, ...]:
    try:
        event = decode(raw)
    except ValueError as exc:  # UnknownEventType, CannotUpcast, ValidationError, orjson's errors
        return type(exc), str(exc)
    return type(event), event.model_dump(), event.model_fields_set, event.data.model_fields_set


def demo_stream() -> list[bytes]:
    """The demo scenarios' events as ingest publishes them (every field, the type first)."""
    events = [parse_event({**s, "recorded_at": RECORDED}) for s in submissions(Mix.demo, 200, incidents=2)]
    return [stamped(event, writer_body(event)) for event in events]


def test_every_demo_event_decodes_as_the_full_path_decodes_it() -> None:
    stream = demo_stream()
    assert len({orjson.loads(raw)["type"] for raw in stream}) >= 20
    for raw in stream:
        assert outcome(parse_event, raw) == outcome(full_path, raw)


def test_the_straight_path_takes_every_demo_event_but_corrections() -> None:
    """A type with a free-form value (a correction's `replacement`) is the full path's: orjson and pydantic-core
    read some numbers differently there."""
    for raw in demo_stream():
        assert (_straight(raw) is None) == (orjson.loads(raw)["type"] == "ReportCorrected")


def envelope(event_type: str = "StatementIssued", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = make_event("straight", event_type).model_dump(mode="json")
    return {**event, **changes}


dumped = orjson.dumps


def disaster(**data: Any) -> dict[str, Any]:
    return envelope("IncidentOpened") | {"type": "DisasterStruck", "schema_version": 1, "data": data}


DISASTER = {"hazard": "flood", "magnitude": 1}
NOT_ORJSON = {  # the same event spelled in ways orjson refuses, or reads differently from pydantic-core
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "a float beyond double": b"1e400",
    "an integer beyond 64 bits": b"18446744073709551617",
    "a negative integer beyond 64 bits": b"-9223372036854775809",
}


def correction(magnitude: bytes) -> bytes:
    """A correction of a disaster's magnitude: its `replacement` is kept as decoded."""
    replacement = {"hazard": "flood", "magnitude": 1}
    data = {"corrects": envelope()["event_id"], "corrected_type": "DisasterStruck", "replacement": replacement}
    raw = dumped(envelope("IncidentOpened") | {"type": "ReportCorrected", "data": data | {"reason": "typo"}})
    return raw.replace(b'"magnitude":1', b'"magnitude":' + magnitude, 1)


CASES: dict[str, bytes] = {
    "valid": dumped(envelope()),
    "valid, keys in another order": dumped(dict(reversed(envelope().items()))),
    "valid, with spaces": orjson.dumps(envelope(), option=orjson.OPT_INDENT_2),
    "no schema_version, a type at version 1": dumped(
        {k: v for k, v in disaster(**DISASTER).items() if k != "schema_version"}
    ),
    "no schema_version, a type at version 2 (upcast from 1)": dumped(
        {k: v for k, v in envelope("CasualtiesReported").items() if k != "schema_version"}
    ),
    "an older version (upcast)": dumped(envelope("ResultsAnnulled", schema_version=1)),
    "an older version that cannot be upcast": dumped(envelope("CasualtiesReported", schema_version=1)),
    "a newer version": dumped(envelope(schema_version=3)),
    "schema_version as text": dumped(envelope(schema_version="1")),
    "an unknown type": dumped(envelope(type="NoSuchThing")),
    "no type": dumped({k: v for k, v in envelope().items() if k != "type"}),
    "type names another payload": dumped(envelope(type="IncidentOpened")),
    "type spelled with an escape": dumped(envelope()).replace(b'"StatementIssued"', b'"\\u0053tatementIssued"', 1),
    "a second type, last": dumped(envelope())[:-1] + b',"type":"IncidentOpened"}',
    "a second type naming the payload, last": dumped(envelope(type="IncidentOpened"))[:-1]
    + b',"type":"StatementIssued"}',
    "a leap second": dumped(envelope(occurred_at="2016-12-31T23:59:60Z")),
    "a leap second with an offset": dumped(envelope(occurred_at="2016-12-31T23:59:60.5+06:00")),
    "an offset beyond 14 hours": dumped(envelope(occurred_at="2020-10-05T18:00:00+15:00")),
    "before the window": dumped(envelope(occurred_at="1899-12-31T00:00:00Z")),
    "a time without an offset": dumped(envelope(occurred_at="2020-10-05T18:00:00")),
    "an extra field": dumped(envelope(extra=1)),
    "an extra payload field": dumped(envelope(data={**envelope()["data"], "extra": 1})),
    "data not an object": dumped(envelope(data=[1])),
    "an older version, data not an object": dumped(envelope("ResultsAnnulled", schema_version=1, data="x")),
    "no recorded_at": dumped({k: v for k, v in envelope().items() if k != "recorded_at"}),
    "a bad correlation id": dumped(envelope(correlation_id="no spaces")),
    "text to strip": dumped(envelope(data={**envelope()["data"], "quote": "  Stay calm.  "})),
    "a lone surrogate": dumped(envelope()).replace(b"Stay calm.", b"Stay \\ud800calm.", 1),
    "invalid UTF-8": dumped(envelope()).replace(b"Stay calm.", b"Stay \xff calm.", 1),
    "a byte order mark": b"\xef\xbb\xbf" + dumped(envelope()),
    "trailing bytes": dumped(envelope()) + b" x",
    "truncated": dumped(envelope())[:-1],
    "an array": dumped([envelope()]),
    "empty": b"",
    "a disaster": dumped(disaster(**DISASTER)),
    "a disaster, magnitude a float": dumped(disaster(hazard="flood", magnitude=7.5)),
    "a location's latitude out of range": dumped(
        envelope(location={"name": "x", "country": "KG", "lat": 91, "lon": 0})
    ),
    **{
        f"a magnitude of {name}": dumped(disaster(**DISASTER)).replace(b'"magnitude":1', b'"magnitude":' + spelled, 1)
        for name, spelled in NOT_ORJSON.items()
    },
    **{
        f"a latitude of {name}": dumped(envelope(location={"name": "x", "country": "KG", "lat": 1, "lon": 0})).replace(
            b'"lat":1', b'"lat":' + spelled, 1
        )
        for name, spelled in NOT_ORJSON.items()
    },
    **{f"a correction to a magnitude of {name}": correction(spelled) for name, spelled in NOT_ORJSON.items()},
}


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_accepts_refuses_and_decodes_as_the_full_path(raw: bytes) -> None:
    assert outcome(parse_event, raw) == outcome(full_path, raw)


def test_the_cases_reach_both_outcomes_and_every_error() -> None:
    """The cases above test something: some pass (one straight, one only through the full path), some are refused
    with each of the full path's errors."""
    outcomes = {name: outcome(full_path, raw)[0] for name, raw in CASES.items()}
    accepted = {n for n, o in outcomes.items() if issubclass(o, Event)}
    assert {"valid", "a disaster", "a leap second", "an older version (upcast)"} <= accepted
    assert _straight(CASES["valid"]) is not None and _straight(CASES["an older version (upcast)"]) is None
    refused = {o.__name__ for o in outcomes.values() if not issubclass(o, Event)}
    assert refused >= {"UnknownEventType", "CannotUpcast", "ValidationError", "JSONDecodeError", "ValueError"}


# Any JSON, spelled by the standard library: integers beyond 64 bits, NaN and Infinity included (orjson refuses
# or reads those differently from pydantic-core).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
DISASTER_EVENT = disaster(hazard="flood", magnitude=7.5, description="River burst its banks")


@settings(deadline=None)  # the first example builds the type's validator: seconds on a loaded machine, not a fault
@given(
    st.dictionaries(st.sampled_from(list(DISASTER_EVENT)), json_values, max_size=2),
    st.dictionaries(st.sampled_from(list(DISASTER_EVENT["data"])), json_values, max_size=2),
)
def test_events_with_fields_replaced_at_random_decode_as_the_full_path(
    overrides: dict[str, Any], payload: dict[str, Any]
) -> None:
    raw = json.dumps(DISASTER_EVENT | {"data": DISASTER_EVENT["data"] | payload} | overrides).encode()
    assert outcome(parse_event, raw) == outcome(full_path, raw)
