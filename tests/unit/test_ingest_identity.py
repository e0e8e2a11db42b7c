"""Event ids from an Idempotency-Key: deterministic under one secret, scoped to the token, distinct per batch index,
and not computable without the secret."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest
from pydantic import SecretStr

from services.common.settings import Settings
from services.ingest.identity import EventIdSecretMissing, derived_event_id, event_id_for, event_id_secret

SECRET = b"k" * 32


def test_same_key_gives_the_same_id() -> None:
    assert derived_event_id(SECRET, "tester", "key-1") == derived_event_id(SECRET, "tester", "key-1")
    assert derived_event_id(SECRET, "tester", "key-1", 7) == derived_event_id(SECRET, "tester", "key-1", 7)


def test_the_derivation_never_changes_under_one_secret() -> None:
    # A retry that spans a deploy must still be deduplicated: the name format and the derivation are frozen.
    assert derived_event_id(SECRET, "tester", "key-1") == UUID("656b4705-d074-8b0e-90e1-bff6a1fd5e36")
    assert derived_event_id(SECRET, "tester", "key-1").version == 8


def test_without_the_secret_the_id_cannot_be_computed() -> None:
    """The token name and the key are public or guessable: another secret gives another id."""
    assert derived_event_id(SECRET, "tester", "key-1") != derived_event_id(b"o" * 32, "tester", "key-1")


def test_key_token_and_index_all_matter() -> None:
    ids = {
        derived_event_id(SECRET, "tester", "key-1"),
        derived_event_id(SECRET, "tester", "key-2"),
        derived_event_id(SECRET, "other", "key-1"),
        derived_event_id(SECRET, "tester", "key-1", 0),
        derived_event_id(SECRET, "tester", "key-1", 1),
    }
    assert len(ids) == 5


def test_parts_cannot_run_into_each_other() -> None:
    assert derived_event_id(SECRET, "a", "b\nc") != derived_event_id(SECRET, "a\nb", "c")
    assert derived_event_id(SECRET, "a", "b:c") != derived_event_id(SECRET, "a:b", "c")
    assert derived_event_id(SECRET, "tester", "key-1", 2) != derived_event_id(SECRET, "tester", '["key-1", 2]')


def test_submitted_id_wins_over_the_key() -> None:
    submitted = uuid4()
    assert event_id_for(submitted, SECRET, "tester", "key-1", 3) == submitted
    assert event_id_for(submitted, SECRET, "tester", None) == submitted


def test_key_is_used_when_no_id_is_submitted() -> None:
    assert event_id_for(None, SECRET, "tester", "key-1") == derived_event_id(SECRET, "tester", "key-1")
    assert event_id_for(None, SECRET, "tester", "key-1", 2) == derived_event_id(SECRET, "tester", "key-1", 2)


def test_without_key_each_event_gets_a_fresh_random_id() -> None:
    first, second = event_id_for(None, SECRET, "tester", None), event_id_for(None, SECRET, "tester", None)
    assert first != second
    assert first.version == 4


@pytest.mark.parametrize("secret", [None, "too-short"], ids=["unset", "short"])
def test_ingest_has_no_id_secret_without_a_long_one(tmp_path: Path, secret: str | None) -> None:
    settings = Settings(data_dir=tmp_path, event_id_secret=SecretStr(secret) if secret else None)
    with pytest.raises(EventIdSecretMissing, match="CRISIS_EVENT_ID_SECRET"):
        event_id_secret(settings)
