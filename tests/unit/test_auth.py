"""API tokens: parsed from settings, kept as hashes, matched by name."""

import pytest

from services.common.auth import TokenConfigError, authenticate, parse_tokens

SPEC = "alice:aaaaaaaaaaaaaaaaaaaa, bob:bbbbbbbbbbbbbbbbbbbb"


def test_tokens_are_stored_as_hashes_and_matched_by_name() -> None:
    tokens = parse_tokens(SPEC)
    assert set(tokens) == {"alice", "bob"}
    assert b"aaaaaaaaaaaaaaaaaaaa" not in tokens.values()
    assert authenticate(tokens, "bbbbbbbbbbbbbbbbbbbb") == "bob"
    assert authenticate(tokens, "cccccccccccccccccccc") is None


@pytest.mark.parametrize("spec", ["alice", "alice:short", ":aaaaaaaaaaaaaaaaaaaa"])
def test_bad_token_settings_are_refused_clearly(spec: str) -> None:
    with pytest.raises(TokenConfigError, match="want name:token"):
        parse_tokens(spec)
