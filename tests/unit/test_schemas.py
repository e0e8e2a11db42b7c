"""The event contract: strict validation, typed payloads, fuzzy quantities, subjects."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.catalogue import EVENT_TYPES, UnknownEventType, parse_event, parse_submission
from schemas.events.elections import ResultsAnnulled
from schemas.subjects import event_subject
from schemas.values import ActorKind, ActorRef, Quantity
from services.demo.loader import scenario_events
from tests.factories import make_event


def submission(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "ResultsAnnulled",
        "incident_id": "kg-2020-election",
        "occurred_at": "2020-10-06T05:00:00+06:00",
        "source": {"name": "Central Election Commission", "kind": "state_body", "via": "Interfax"},
        "data": {
            "election_id": "parliamentary-2020",
            "annulled_by": {"id": "cec", "name": "CEC", "kind": "state_body"},
            "reason": "avoid tension",
        },
    }
    return base | overrides


def error_locs(exc: ValidationError) -> list[tuple[str | int, ...]]:
    return [tuple(e["loc"]) for e in exc.errors()]


def test_a_valid_report_gets_its_typed_payload() -> None:
    event = parse_submission(submission())
    assert isinstance(event.data, ResultsAnnulled)
    assert event.data.annulled_by.id == "cec"
    assert event.event_id is None


def test_unknown_type_is_refused_with_the_known_types() -> None:
    with pytest.raises(UnknownEventType, match=r"known types: .*ResultsAnnulled"):
        parse_submission(submission(type="AliensLanded"))


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"occurred_at": "2020-10-06T05:00:00"}, ("occurred_at",)),  # no zone
        ({"incident_id": "Not A Slug"}, ("incident_id",)),
        ({"incident_id": "a.b"}, ("incident_id",)),  # a dot would split the NATS subject
        ({"recorded_at": "2020-10-06T05:00:00+00:00"}, ("recorded_at",)),  # only ingest sets it
        ({"surprise": 1}, ("surprise",)),
        ({"source": {"name": "x", "kind": "rumour"}}, ("source", "kind")),
    ],
)
def test_bad_envelopes_name_the_field(overrides: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_submission(submission(**overrides))
    assert loc in error_locs(caught.value)


def test_payload_errors_point_inside_data() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_submission(
            submission(
                data={
                    "election_id": "parliamentary-2020",
                    "annulled_by": {"id": "cec", "name": "CEC", "kind": "state_body"},
                    "extra": 1,
                }
            )
        )
    assert set(error_locs(caught.value)) == {("data", "reason"), ("data", "extra")}


def test_the_stored_event_round_trips_through_json() -> None:
    raw = submission(event_id="0b4f9a53-1e2c-4ad4-9a4e-5f6d7e8f9a0b", recorded_at="2020-10-06T06:00:00+00:00")
    event = parse_event(parse_event(raw).model_dump_json().encode())
    assert str(event.event_id) == raw["event_id"]
    assert event.data == ResultsAnnulled(
        election_id="parliamentary-2020",
        annulled_by=ActorRef(id="cec", name="CEC", kind=ActorKind.STATE_BODY),
        reason="avoid tension",
    )


@pytest.mark.parametrize(
    ("count", "bounds"),
    [
        ({"value": 590}, (590, 590)),
        ({"min": 10, "max": 20}, (10, 20)),
        ({"text": "Hundreds"}, (200, 999)),
        ({"text": "many", "min": 5}, (5, None)),
    ],
)
def test_quantities_keep_the_words_and_imply_bounds(count: dict[str, Any], bounds: tuple[int, int | None]) -> None:
    assert Quantity.model_validate(count).bounds == bounds


@pytest.mark.parametrize("count", [{}, {"value": 1, "min": 0}, {"min": 5, "max": 2}, {"value": -1}])
def test_impossible_quantities_are_refused(count: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Quantity.model_validate(count)


def test_subjects_carry_incident_and_type() -> None:
    assert event_subject("kg-2020-election", "ResultsAnnulled") == "crisis.events.kg-2020-election.ResultsAnnulled"


def test_every_catalogue_entry_is_named_after_its_class() -> None:
    assert all(cls.__name__ == name for name, cls in EVENT_TYPES.items())


def test_the_demo_scenario_is_valid_and_covers_the_seed_article() -> None:
    events = [parse_submission(e) for e in scenario_events("kg-2020-election")]
    types = {e.type for e in events}
    assert {"ResultsAnnulled", "CasualtiesReported", "PrisonerReleased", "BodyFormed"} <= types
    released = [e.data.person.name for e in events if e.type == "PrisonerReleased"]
    assert "Almazbek Atambayev" in released and len(released) == 5
    assert len({e.event_id for e in events}) == len(events)


def correction(**data: Any) -> dict[str, Any]:
    replacement = {"figures": [{"category": "injured", "count": {"value": 600}}]}
    payload = {"corrects": str(uuid.uuid4()), "corrected_type": "CasualtiesReported", "reason": "recount"}
    return submission(type="ReportCorrected", data={**payload, "replacement": replacement, **data})


def test_a_correction_carries_a_valid_payload_of_the_type_it_corrects() -> None:
    assert parse_submission(correction()).data.replacement["figures"][0]["count"]["value"] == 600
    with pytest.raises(ValidationError) as caught:
        parse_submission(correction(replacement={"figures": [{"category": "bruised", "count": {"value": 1}}]}))
    [error] = caught.value.errors()
    assert error["loc"] == ("data", "replacement")
    assert "not a valid CasualtiesReported payload: figures.0.category" in error["msg"]
    with pytest.raises(ValidationError) as caught:
        parse_submission(correction(corrected_type="AliensLanded"))
    assert [e["loc"] for e in caught.value.errors()] == [("data", "corrected_type")]


def test_a_version_1_casualty_report_reads_as_version_2_counting_everyone() -> None:
    v1 = make_event("kg", "CasualtiesReported").model_dump(mode="json")
    v1 |= {"schema_version": 1, "data": {"figures": [{"category": "killed", "count": {"value": 1}}]}}
    event = parse_event(v1)
    assert event.schema_version == 2
    assert [(f.category.value, f.group.value) for f in event.data.figures] == [("killed", "total")]


def test_an_ngo_is_an_actor_kind_and_a_version_1_report_naming_actors_reads_as_version_2() -> None:
    assert ActorRef(id="hrw", name="Human Rights Watch", kind=ActorKind.NGO).kind == "ngo"
    v1 = make_event("kg", "StatementIssued").model_dump(mode="json") | {"schema_version": 1}
    for field in ("translated_from", "original_quote"):
        del v1["data"][field]
    assert parse_event(v1).schema_version == 2


def test_a_quote_may_be_marked_as_a_translation_with_its_original_language() -> None:
    said: dict[str, Any] = {
        "speaker": {"id": "a", "name": "A", "kind": "person"},
        "quote": "Stay calm.",
        "language": "en",
    }
    translated = make_event("kg", "StatementIssued", **said, translated_from="ky", original_quote="Тынч болгула.")
    assert (translated.data.translated_from, translated.data.original_quote) == ("ky", "Тынч болгула.")
    with pytest.raises(ValidationError, match="original_quote needs translated_from"):
        make_event("kg", "StatementIssued", **said, original_quote="Тынч болгула.")
