"""Event ids: the client's own, else derived from its Idempotency-Key, else fresh.

A derived id is a uuid5 over the token name and the key (and, in a batch, the event's index), so a retried request
yields the same ids, which become `Nats-Msg-Id` and let JetStream drop the retry as a duplicate. The token name is
part of the name so that two clients who happen to pick the same key never collide.
"""

from __future__ import annotations

import json
import uuid
from uuid import UUID

# Fixed forever: changing it would change every derived id and defeat dedupe across a deploy.
IDEMPOTENCY_NAMESPACE = UUID("3f1c8e0a-6b7d-4c2e-9a51-0d4b8f6e2c17")

MAX_KEY_LENGTH = 255


def derived_event_id(token_name: str, idempotency_key: str, index: int | None = None) -> UUID:
    """The id of the event a request with this key carries: `index` is its position in a batch, None if single."""
    # JSON keeps the parts apart whatever characters they hold: ("a", "b:c") and ("a:b", "c") never meet.
    parts: list[str | int] = [token_name, idempotency_key] if index is None else [token_name, idempotency_key, index]
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, json.dumps(parts))


def event_id_for(
    submitted: UUID | None, token_name: str, idempotency_key: str | None, index: int | None = None
) -> UUID:
    """The submitted id wins; then one derived from the Idempotency-Key; else a random one (no retry safety)."""
    if submitted is not None:
        return submitted
    if idempotency_key is not None:
        return derived_event_id(token_name, idempotency_key, index)
    return uuid.uuid4()
