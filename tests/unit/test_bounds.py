"""The contract's bounds: times and dates every layer can store and read back, counts that fit the read models'
columns, no infinite numbers; each refused with the location of the field, and each published in the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from schemas.bounds import MAX_COUNT
from schemas.catalogue import EVENT_TYPES, parse_submission
from tests.unit.test_schemas import submission

GENERATED = Path(__file__).parents[2] / "schemas" / "generated"


def casualties(value: Any) -> dict[str, Any]:
    return submission(type="CasualtiesReported", data={"figures": [{"category": "injured", "count": {"value": value}}]})


def refusal(raw: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        parse_submission(raw)
    [error] = caught.value.errors()
    return tuple(error["loc"]), error["msg"]


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+14:00",  # a BC timestamp in PostgreSQL once converted to UTC
        "1900-01-01T00:00:00+00:01",  # 1899 in UTC
        "2100-01-01T00:00:00Z",
        "2099-12-31T23:00:00-14:00",  # the years only near the ends are compared: 2100 in UTC
        "1900-01-01T13:00:00+14:00",  # 1899 in UTC
        "9999-12-31T23:59:59-14:00",  # past year 9999 in UTC: OverflowError in Python
    ],
)
def test_times_outside_the_window_are_refused_after_the_offset(when: str) -> None:
    loc, msg = refusal(submission(occurred_at=when))
    assert loc == ("occurred_at",)
    assert "1900-01-01" in msg and "2100-01-01" in msg


def test_the_window_is_in_utc_whatever_the_local_year() -> None:
    assert parse_submission(submission(occurred_at="1899-12-31T23:00:00-02:00")).occurred_at.year == 1899
    assert parse_submission(submission(occurred_at="2100-01-01T09:00:00+10:00")).occurred_at.year == 2100


def test_an_offset_beyond_14_hours_is_refused() -> None:
    assert refusal(submission(reported_at="2020-10-06T05:00:00+15:00")) == (
        ("reported_at",),
        "Value error, UTC offset +15:00 is beyond ±14:00",
    )


def test_dates_in_payloads_are_bounded_too() -> None:
    raw = submission(
        type="ActorRegistered",
        data={"actor": {"id": "x", "name": "X", "kind": "person"}, "roles": [{"title": "t", "start": "0001-01-01"}]},
    )
    loc, _ = refusal(raw)
    assert loc == ("data", "roles", 0, "start")


@pytest.mark.parametrize("value", [2**31, 2**63, 10**30])
def test_counts_that_do_not_fit_an_integer_column_are_refused(value: int) -> None:
    loc, msg = refusal(casualties(value))
    assert loc == ("data", "figures", 0, "count", "value")
    assert str(MAX_COUNT) in msg


def test_the_largest_count_is_accepted() -> None:
    assert parse_submission(casualties(MAX_COUNT)).data.figures[0].count.value == MAX_COUNT


@pytest.mark.parametrize("number", ["Infinity", "-inf", "NaN"])
def test_infinite_numbers_given_as_strings_are_refused(number: str) -> None:
    loc, _ = refusal(submission(type="DisasterStruck", data={"hazard": "flood", "magnitude": number}))
    assert loc == ("data", "magnitude")


def schema_of(event_type: str) -> dict[str, Any]:
    version = EVENT_TYPES[event_type].schema_version  # the current version's schema
    schema: dict[str, Any] = json.loads((GENERATED / "events" / f"{event_type}.v{version}.json").read_text())
    return schema


def test_the_published_schema_carries_the_bounds() -> None:
    schema = schema_of("CasualtiesReported")
    quantity = schema["$defs"]["Quantity"]["properties"]["value"]["anyOf"][0]
    assert quantity["maximum"] == MAX_COUNT
    occurred = schema["properties"]["occurred_at"]
    assert occurred["formatMinimum"].startswith("1900-01-01") and occurred["formatExclusiveMaximum"].startswith("2100")
    validator = jsonschema.Draft202012Validator(occurred)
    assert validator.is_valid("2020-10-06T05:00:00+06:00")
    assert not validator.is_valid("0001-01-01T00:00:00+14:00")
    assert not validator.is_valid("2020-10-06T05:00:00+20:00")
