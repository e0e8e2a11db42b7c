"""The election state machine, custody status, grouping by speaker, actor registry and actor references."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.catalogue import EVENT_TYPES
from schemas.events.political import BodyFormed
from schemas.values import ActorKind, ActorRef
from services.domain.actor_refs import _fields_that_may_name_actors, actor_refs
from services.domain.actors import MentionRow, actors
from services.domain.detentions import DetentionRow, custody
from services.domain.elections import ElectionRow, elections

T0 = datetime(2020, 10, 4, tzinfo=UTC)
CEC = {"id": "cec", "name": "Central Election Commission", "kind": "state_body"}


def election_row(type_: str, hour: int, **payload: Any) -> ElectionRow:
    event_id = uuid.uuid4()
    return ElectionRow.model_validate(  # as the view reads a row: the payload re-validated by its type
        {
            "event_id": event_id,
            "version_of": event_id,
            "type": type_,
            "schema_version": 1,
            "election_id": "parl-2020",
            "payload": {"election_id": "parl-2020", **payload},
            "source": {"name": "Wire", "kind": "media"},
            "occurred_at": T0 + timedelta(hours=hour),
            "recorded_at": T0,
            "stream_seq": hour,
            "verification": "reported",
        }
    )


def test_an_election_moves_from_held_to_announced_to_annulled_with_who_and_why() -> None:
    rows = [
        election_row("ResultsAnnulled", 48, annulled_by=CEC, reason="avoid tension"),
        election_row("ElectionHeld", 0, kind="parliamentary"),
        election_row("ResultsAnnounced", 20, announced_by=CEC, stage="preliminary"),
    ]
    [election] = elections(rows)
    assert election.state == "annulled" and election.kind == "parliamentary"
    assert [s.state for s in election.steps] == ["held", "announced", "annulled"]
    assert election.steps[-1].by == ActorRef.model_validate(CEC) and election.steps[-1].why == "avoid tension"
    assert election.conflicts == []


def test_a_step_the_machine_does_not_allow_is_kept_as_a_conflict() -> None:
    rows = [
        election_row("ResultsAnnounced", 1, announced_by=CEC, stage="final"),
        election_row("ResultsAnnulled", 2, annulled_by=CEC, reason="protests"),
        election_row("ResultsCertified", 3, certified_by=CEC),
    ]
    [election] = elections(rows)
    assert election.state == "annulled"
    assert [c.state for c in election.conflicts] == ["certified"]


def detention_row(type_: str, day: int, **payload: Any) -> DetentionRow:
    event_id = uuid.uuid4()
    return DetentionRow.model_validate(
        {
            "event_id": event_id,
            "version_of": event_id,
            "type": type_,
            "schema_version": 1,
            "person_id": "atambayev",
            "payload": {"person": {"id": "atambayev", "name": "Almazbek Atambayev", "kind": "person"}, **payload},
            "source": {"name": "Local media", "kind": "media"},
            "occurred_at": T0 + timedelta(days=day),
            "recorded_at": T0,
            "stream_seq": day,
            "verification": "reported",
        }
    )


def test_custody_follows_the_last_event_and_says_who_released() -> None:
    released = detention_row("PrisonerReleased", 2, released_by="protesters", lawful=False)
    detained = detention_row("PersonDetained", -400, former_role="President (2011-2017)")
    [person] = custody([released, detained])
    assert (person.status, person.released_by, person.lawful) == ("released", "protesters", False)
    assert person.former_role == "President (2011-2017)"
    [again] = custody([released, detained, detention_row("PersonDetained", 30)])
    assert (again.status, again.released_by) == ("detained", None)


def mention(event_type: str, seq: int, name: str, **extra: Any) -> MentionRow:
    return MentionRow(
        event_id=uuid.uuid4(),
        actor_id="atambayev",
        field="person",
        incident_id="kg",
        event_type=event_type,
        name=name,
        kind="person",
        role=extra.pop("role", None),
        aliases=extra.pop("aliases", []),
        roles=extra.pop("roles", []),
        occurred_at=T0,
        recorded_at=T0,
        stream_seq=seq,
    )


def test_a_registration_names_the_actor_and_other_names_become_aliases() -> None:
    rows = [
        mention("PrisonerReleased", 1, "A. Atambayev", role="Former president"),
        mention(
            "ActorRegistered",
            2,
            "Almazbek Atambayev",
            aliases=["Atambayev"],
            roles=[{"title": "President", "start": "2011-12-01", "end": "2017-11-24"}],
        ),
    ]
    [actor] = actors(rows)
    assert actor.name == "Almazbek Atambayev"
    assert actor.aliases == ["A. Atambayev", "Atambayev"]
    assert [(r.title, str(r.start), str(r.end)) for r in actor.roles] == [
        ("President", "2011-12-01", "2017-11-24"),
        ("Former president", "2020-10-04", "None"),
    ]
    assert actor.mention_count == 2 and actor.mentions is None


def test_registering_an_actor_again_with_the_same_dated_roles_adds_no_role() -> None:
    president = {"title": "President", "start": "2011-12-01", "end": "2017-11-24"}
    rows = [
        mention(
            "ActorRegistered", seq, "Almazbek Atambayev", roles=[president, {"title": "MP", "start": f"200{n}-01-01"}]
        )
        for seq, n in ((1, 5), (2, 5), (3, 7))
    ]
    [actor] = actors(rows)
    assert [(r.title, str(r.start), str(r.end)) for r in actor.roles] == [
        ("President", "2011-12-01", "2017-11-24"),
        ("MP", "2005-01-01", "None"),
        ("MP", "2007-01-01", "None"),
    ]
    assert actor.roles[0].event_id == rows[0].event_id


def test_actor_references_are_found_wherever_a_payload_holds_them() -> None:
    council = ActorRef(id="council", name="Coordination council", kind=ActorKind.GROUP)
    member = ActorRef(id="ex-pm", name="A former prime minister", kind=ActorKind.PERSON)
    formed = BodyFormed(body=council, members=[member])
    assert list(actor_refs(formed)) == [("body", council), ("members.0", member)]


def test_actor_references_skip_only_fields_that_cannot_hold_a_model() -> None:
    """actor_refs leaves out the fields whose type holds no model: by the contract's own JSON Schema, none of them
    can hold an object (an actor, or anything naming one)."""
    for name, cls in EVENT_TYPES.items():
        schema = cls.model_json_schema()
        skipped = set(cls.model_fields) - set(_fields_that_may_name_actors(cls))
        for field in skipped:
            assert not _holds_objects(schema["properties"][field], schema.get("$defs", {})), (name, field)
    assert _fields_that_may_name_actors(BodyFormed) == ("body", "members")


def _holds_objects(schema: Any, defs: dict[str, Any]) -> bool:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _holds_objects(defs[schema["$ref"].removeprefix("#/$defs/")], defs)
        if schema.get("type") == "object" or "properties" in schema:
            return True
        return any(_holds_objects(value, defs) for value in schema.values())
    if isinstance(schema, list):
        return any(_holds_objects(item, defs) for item in schema)
    return False
