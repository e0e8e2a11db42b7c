"""API tokens: parsed from settings or a file of hashes, kept as hashes, matched by name, with scopes."""

import hashlib
import json
from pathlib import Path

import pytest

from services.common.auth import (
    DEFAULT_SCOPES,
    Scope,
    TokenConfigError,
    authenticate,
    load_token_file,
    merge_tokens,
    parse_tokens,
)

SPEC = "alice:aaaaaaaaaaaaaaaaaaaa, bob:bbbbbbbbbbbbbbbbbbbb:events:read, ops:cccccccccccccccccccc:admin"


def test_tokens_are_stored_as_hashes_and_matched_by_name() -> None:
    tokens = parse_tokens(SPEC)
    assert set(tokens) == {"alice", "bob", "ops"}
    assert all(b"aaaaaaaaaaaaaaaaaaaa" not in t.digest for t in tokens.values())
    bob = authenticate(tokens, "bbbbbbbbbbbbbbbbbbbb")
    assert bob is not None and bob.name == "bob"
    assert authenticate(tokens, "dddddddddddddddddddd") is None


def test_scopes_default_to_write_and_read_and_admin_grants_every_scope() -> None:
    tokens = parse_tokens(SPEC)
    assert tokens["alice"].scopes == DEFAULT_SCOPES
    assert tokens["bob"].allows(Scope.READ) and not tokens["bob"].allows(Scope.WRITE)
    assert all(tokens["ops"].allows(scope) for scope in Scope)


@pytest.mark.parametrize("spec", ["alice", "alice:short", ":aaaaaaaaaaaaaaaaaaaa"])
def test_bad_token_settings_are_refused_clearly(spec: str) -> None:
    with pytest.raises(TokenConfigError, match="want name:token"):
        parse_tokens(spec)


def test_a_name_that_could_not_be_recorded_as_recorded_by_is_refused(tmp_path: Path) -> None:
    """Ingest stamps the name on every event without validating the event again: it must be a valid `Name`."""
    with pytest.raises(TokenConfigError, match="1 to 200 characters"):
        parse_tokens(f"{'a' * 201}:aaaaaaaaaaaaaaaaaaaa")
    path = tmp_path / "tokens.json"
    digest = hashlib.sha256(b"the-reporters-secret-token").hexdigest()
    path.write_text(json.dumps({"tokens": [{"name": " app", "sha256": digest}]}))
    with pytest.raises(TokenConfigError, match="no space at either end"):
        load_token_file(path)
    assert parse_tokens(f"{'a' * 200}:aaaaaaaaaaaaaaaaaaaa")


def test_an_unknown_scope_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(TokenConfigError, match="known scopes: events:write"):
        parse_tokens("alice:aaaaaaaaaaaaaaaaaaaa:events:delete")


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_token_file_holds_only_hashes(tmp_path: Path, suffix: str) -> None:
    digest = hashlib.sha256(b"the-reporters-secret-token").hexdigest()
    path = tmp_path / f"tokens{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"tokens": [{"name": "app", "sha256": digest, "scopes": ["events:write"]}]}))
    else:
        path.write_text(f'[[tokens]]\nname = "app"\nsha256 = "{digest}"\nscopes = ["events:write"]\n')

    tokens = load_token_file(path)

    app = authenticate(tokens, "the-reporters-secret-token")
    assert app is not None and app.scopes == {Scope.WRITE}


def test_a_bad_token_file_or_a_name_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": [{"name": "app", "sha256": "not-hex"}]}))
    with pytest.raises(TokenConfigError, match=r"tokens\.json"):
        load_token_file(path)
    with pytest.raises(TokenConfigError, match="configured twice"):
        merge_tokens(parse_tokens("a:aaaaaaaaaaaaaaaaaaaa"), parse_tokens("a:bbbbbbbbbbbbbbbbbbbb"))
