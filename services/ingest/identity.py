"""Event ids: the client's own, else derived from its Idempotency-Key, else fresh.

A derived id is an HMAC-SHA256, under a server secret (CRISIS_EVENT_ID_SECRET), of the token name and the key
(and, in a batch, the event's index), so a retried request yields the same ids, which become `Nats-Msg-Id` and let
JetStream drop the retry as a duplicate. The secret is what makes the id the writer's own: token names are public
(`recorded_by`), so an id derived from public parts could be computed, and taken first, by another writer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from uuid import UUID

from services.common.settings import Settings

MAX_KEY_LENGTH = 255
MIN_SECRET_LENGTH = 32


class EventIdSecretMissing(ValueError):
    pass


def event_id_secret(settings: Settings) -> bytes:
    """The secret derived ids are keyed with; refuses to run without one (ids derived without it are guessable)."""
    secret = settings.event_id_secret.get_secret_value() if settings.event_id_secret else ""
    if len(secret) < MIN_SECRET_LENGTH:
        raise EventIdSecretMissing(
            f"ingest needs CRISIS_EVENT_ID_SECRET of at least {MIN_SECRET_LENGTH} random characters "
            "(`crisis up` generates one per data dir); keep it for as long as retries should be deduplicated"
        )
    return secret.encode()


def derived_event_id(secret: bytes, token_name: str, idempotency_key: str, index: int | None = None) -> UUID:
    """The id of the event a request with this key carries: `index` is its position in a batch, None if single."""
    # JSON keeps the parts apart whatever characters they hold: ("a", "b:c") and ("a:b", "c") never meet.
    parts: list[str | int] = [token_name, idempotency_key] if index is None else [token_name, idempotency_key, index]
    digest = hmac.new(secret, json.dumps(parts).encode(), hashlib.sha256).digest()
    return _uuid8(digest[:16])


def _uuid8(raw: bytes) -> UUID:
    """A UUID of version 8 (RFC 9562: custom) over 16 bytes; Python 3.11's UUID() takes versions 1-5 only."""
    value = int.from_bytes(raw, "big")
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # the RFC variant
    value = (value & ~(0xF000 << 64)) | (8 << 76)  # the version
    return UUID(int=value)


def event_id_for(
    submitted: UUID | None, secret: bytes, token_name: str, idempotency_key: str | None, index: int | None = None
) -> UUID:
    """The submitted id wins; then one derived from the Idempotency-Key; else a random one (no retry safety)."""
    if submitted is not None:
        return submitted
    if idempotency_key is not None:
        return derived_event_id(secret, token_name, idempotency_key, index)
    return uuid.uuid4()
