"""Bearer tokens from `CRISIS_API_TOKENS` ("name:token,name2:token2"), kept only as SHA-256 hashes.

Comparison is in constant time; the name of the matching token is what the envelope records as `recorded_by`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class TokenConfigError(ValueError):
    pass


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_tokens(spec: str) -> dict[str, bytes]:
    """`name:token` pairs to {name: sha256(token)}; raises TokenConfigError with the offending entry."""
    tokens: dict[str, bytes] = {}
    for raw_entry in spec.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        name, sep, token = entry.partition(":")
        if not sep or not name.strip() or len(token) < 16:
            raise TokenConfigError(
                f"bad CRISIS_API_TOKENS entry {name.strip() or '?'!r}: want name:token, token >= 16 characters"
            )
        tokens[name.strip()] = hash_token(token)
    return tokens


def new_token() -> str:
    return secrets.token_urlsafe(32)


def authenticate(tokens: dict[str, bytes], presented: str) -> str | None:
    """The name of the token presented, or None. Every configured hash is compared, in constant time."""
    digest = hash_token(presented)
    match: str | None = None
    for name, expected in tokens.items():
        if hmac.compare_digest(digest, expected):
            match = name
    return match
