"""Event ids from an Idempotency-Key are deterministic, scoped to the token, and distinct per batch index."""

from __future__ import annotations

from uuid import UUID, uuid4

from services.ingest.identity import derived_event_id, event_id_for


def test_same_key_gives_the_same_id() -> None:
    assert derived_event_id("tester", "key-1") == derived_event_id("tester", "key-1")
    assert derived_event_id("tester", "key-1", 7) == derived_event_id("tester", "key-1", 7)


def test_the_derivation_never_changes() -> None:
    # A retry that spans a deploy must still be deduplicated: the namespace and the name format are frozen.
    assert derived_event_id("tester", "key-1") == UUID("25ab3406-3eab-51db-b9b0-31a9da4c7bf5")
    assert derived_event_id("tester", "key-1").version == 5


def test_key_token_and_index_all_matter() -> None:
    ids = {
        derived_event_id("tester", "key-1"),
        derived_event_id("tester", "key-2"),
        derived_event_id("other", "key-1"),
        derived_event_id("tester", "key-1", 0),
        derived_event_id("tester", "key-1", 1),
    }
    assert len(ids) == 5


def test_parts_cannot_run_into_each_other() -> None:
    assert derived_event_id("a", "b\nc") != derived_event_id("a\nb", "c")
    assert derived_event_id("a", "b:c") != derived_event_id("a:b", "c")
    assert derived_event_id("tester", "key-1", 2) != derived_event_id("tester", '["key-1", 2]')


def test_submitted_id_wins_over_the_key() -> None:
    submitted = uuid4()
    assert event_id_for(submitted, "tester", "key-1", 3) == submitted
    assert event_id_for(submitted, "tester", None) == submitted


def test_key_is_used_when_no_id_is_submitted() -> None:
    assert event_id_for(None, "tester", "key-1") == derived_event_id("tester", "key-1")
    assert event_id_for(None, "tester", "key-1", 2) == derived_event_id("tester", "key-1", 2)


def test_without_key_each_event_gets_a_fresh_random_id() -> None:
    first, second = event_id_for(None, "tester", None), event_id_for(None, "tester", None)
    assert first != second
    assert first.version == 4
