"""API tokens with scopes, kept only as SHA-256 hashes and compared in constant time.

Two sources, merged (a name may appear once):
- `CRISIS_API_TOKENS`: comma-separated `name:token` (scopes events:write and events:read) or
  `name:token:scope+scope`, e.g. `editor:s3cret...:events:write+events:read`, `ops:...:admin`.
- `CRISIS_API_TOKENS_FILE`: a JSON or TOML file `{"tokens": [{"name", "sha256", "scopes"}]}` that holds only the
  hashes, so the plain tokens are stored nowhere on the server.

The name of the matching token is what the envelope records as `recorded_by`. `admin` grants every scope.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import Field, TypeAdapter, ValidationError

from schemas.values import Model, Name

MIN_TOKEN_LENGTH = 16


class Scope(StrEnum):
    WRITE = "events:write"
    READ = "events:read"
    ADMIN = "admin"


DEFAULT_SCOPES = frozenset({Scope.WRITE, Scope.READ})
ALL_SCOPES = frozenset(Scope)


class TokenConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ApiToken:
    name: str
    digest: bytes  # sha256 of the token
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes


Tokens = Mapping[str, ApiToken]


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_scopes(raw: Iterable[str], where: str) -> frozenset[Scope]:
    try:
        scopes = frozenset(Scope(s.strip()) for s in raw)
    except ValueError as exc:
        raise TokenConfigError(f"{where}: {exc}; known scopes: {', '.join(Scope)}") from exc
    if not scopes:
        raise TokenConfigError(f"{where}: no scopes")
    return scopes


def parse_tokens(spec: str) -> dict[str, ApiToken]:
    """`name:token[:scope+scope]` entries; raises TokenConfigError naming the offending entry (never its token)."""
    tokens: dict[str, ApiToken] = {}
    for raw_entry in spec.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        # Scopes contain ":" themselves (events:write), so only the first two colons separate fields.
        name, _, rest = entry.partition(":")
        token, sep, scope_list = rest.partition(":")
        name = name.strip()
        if not name or len(token) < MIN_TOKEN_LENGTH:
            raise TokenConfigError(
                f"bad CRISIS_API_TOKENS entry {name or '?'!r}: want name:token or name:token:scope+scope, "
                f"token >= {MIN_TOKEN_LENGTH} characters (and no ':')"
            )
        where = f"CRISIS_API_TOKENS entry {name!r}"
        scopes = parse_scopes(scope_list.split("+"), where) if sep else DEFAULT_SCOPES
        _add(tokens, ApiToken(name, hash_token(token), scopes), where)
    return tokens


class _FileToken(Model):
    name: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the token")
    scopes: list[str] = Field(default_factory=lambda: [s.value for s in sorted(DEFAULT_SCOPES)], min_length=1)


class _TokenFile(Model):
    tokens: list[_FileToken]


def load_token_file(path: Path) -> dict[str, ApiToken]:
    """Tokens from a JSON or TOML file (by its suffix) of names, hashes and scopes."""
    try:
        text = path.read_text()
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        parsed = _TokenFile.model_validate(raw)
    except (OSError, ValueError) as exc:  # ValidationError, JSONDecodeError and TOMLDecodeError are ValueErrors
        detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc
        raise TokenConfigError(f"cannot read the token file {path}: {detail}") from exc
    tokens: dict[str, ApiToken] = {}
    for entry in parsed.tokens:
        where = f"token {entry.name!r} in {path}"
        _add(tokens, ApiToken(entry.name, bytes.fromhex(entry.sha256), parse_scopes(entry.scopes, where)), where)
    return tokens


def merge_tokens(*sources: Tokens) -> dict[str, ApiToken]:
    merged: dict[str, ApiToken] = {}
    for source in sources:
        for token in source.values():
            _add(merged, token, f"token {token.name!r}")
    return merged


# A token's name is recorded in every event it writes (`recorded_by`), which ingest does not validate again.
_recorded_by: TypeAdapter[str] = TypeAdapter(Name)


def _add(tokens: dict[str, ApiToken], token: ApiToken, where: str) -> None:
    try:
        recordable = _recorded_by.validate_python(token.name) == token.name
    except ValidationError:
        recordable = False
    if not recordable:
        raise TokenConfigError(f"{where}: a name is 1 to 200 characters, with no space at either end")
    if token.name in tokens:
        raise TokenConfigError(f"{where}: the name is configured twice")
    tokens[token.name] = token


def new_token() -> str:
    return secrets.token_urlsafe(32)


def authenticate(tokens: Tokens, presented: str) -> ApiToken | None:
    """The token presented, or None. Every configured hash is compared, in constant time."""
    digest = hash_token(presented)
    match: ApiToken | None = None
    for token in tokens.values():
        if hmac.compare_digest(digest, token.digest):
            match = token
    return match
