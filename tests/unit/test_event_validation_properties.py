"""Property tests (hypothesis) of ingest's event validation: whatever JSON arrives, the answer is a located error
list or a valid submission, never an exception; strings come out NFC; control characters never pass; the clock
rule is exactly "not after now plus the skew"."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.bodies import submission_errors
from services.ingest.clock import future_timestamp_errors, latest_allowed
from services.ingest.hygiene import ALLOWED_CONTROLS, MAX_DEPTH, MAX_STRING_CHARS, cleaned
from tests.factories import incident_opened

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATEST = latest_allowed(NOW, 300)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
forbidden = st.characters(categories=["Cc", "Cs"]).filter(lambda c: c not in ALLOWED_CONTROLS)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *strings(item)]]
    return []


@given(json_values)
def test_any_json_is_a_submission_or_located_errors_never_an_exception(raw: Any) -> None:
    submission, errors = submission_errors(raw, ["body"], LATEST)
    assert (submission is None) == bool(errors)
    assert all(error["loc"][0] == "body" and error["msg"] for error in errors)


@given(st.dictionaries(st.sampled_from(list(incident_opened("x"))), json_values, max_size=6))
def test_events_with_fields_replaced_at_random_never_raise(overrides: dict[str, Any]) -> None:
    submission, errors = submission_errors(incident_opened("prop-test") | overrides, ["body"], LATEST)
    assert (submission is None) == bool(errors)


@given(json_values)
def test_every_string_that_passes_is_nfc(raw: Any) -> None:
    errors: list[dict[str, Any]] = []
    result = cleaned(raw, ["body"], errors)
    if not errors:
        assert all(unicodedata.is_normalized("NFC", s) for s in strings(result))


@given(st.text(max_size=50), forbidden, st.text(max_size=50))
def test_a_control_character_anywhere_is_refused(before: str, control: str, after: str) -> None:
    errors: list[dict[str, Any]] = []
    cleaned({"data": {"title": before + control + after}}, ["body"], errors)
    assert [e["type"] for e in errors] == ["control_character"]
    assert errors[0]["loc"] == ["body", "data", "title"]


@given(st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"), max_size=200))
def test_text_without_control_characters_passes_normalised(text: str) -> None:
    errors: list[dict[str, Any]] = []
    assert cleaned(text, ["body"], errors) == unicodedata.normalize("NFC", text)
    assert errors == []


@given(st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=3650)))
def test_a_timestamp_is_refused_exactly_when_it_lies_beyond_the_skew(offset: timedelta) -> None:
    occurred = NOW + offset
    submission, _ = submission_errors(incident_opened("prop-test"), ["body"], LATEST)
    assert submission is not None
    moved = submission.model_copy(update={"occurred_at": occurred})
    errors = future_timestamp_errors(moved, LATEST, ["body"])
    assert bool(errors) == (occurred > LATEST)


# An object's plain keys and values (numbers, printable ASCII) skip the full check: its limits must still hold there.


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=20), forbidden.filter(str.isascii))
def test_an_ascii_control_character_in_a_key_is_refused(key: str, control: str) -> None:
    errors: list[dict[str, Any]] = []
    cleaned({"data": {key + control: 1}}, ["body"], errors)
    assert [(e["type"], e["loc"]) for e in errors] == [("control_character", ["body", "data", key + control])]


def test_a_plain_string_one_character_over_the_cap_is_refused() -> None:
    errors: list[dict[str, Any]] = []
    at_cap = "a" * MAX_STRING_CHARS
    cleaned({"data": {"ok": at_cap, "long": at_cap + "a", at_cap + "k": 1}}, ["body"], errors)
    assert [(e["type"], e["loc"][-1]) for e in errors] == [
        ("string_too_long", "long"),
        ("string_too_long", at_cap + "k"),
    ]


@given(st.integers() | st.text(alphabet="abc", max_size=5) | st.none())
def test_a_plain_value_one_level_too_deep_is_refused(leaf: Any) -> None:
    def nested(levels: int) -> Any:
        value: Any = {"leaf": leaf}
        for _ in range(levels - 1):
            value = {"next": value}
        return value

    errors: list[dict[str, Any]] = []
    cleaned(nested(MAX_DEPTH), ["body"], errors)
    assert errors == []
    cleaned(nested(MAX_DEPTH + 1), ["body"], errors)
    assert [e["type"] for e in errors] == ["too_deep"]
    assert errors[0]["loc"] == ["body", *["next"] * MAX_DEPTH, "leaf"]
