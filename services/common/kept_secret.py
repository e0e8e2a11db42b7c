"""A secret generated once per data dir and kept there, readable by its owner only (0600), across restarts.

`crisis up` keeps ingest's event id secret this way: ids derived from an Idempotency-Key must stay the same
across a restart, or a retry after it would not be recognised as a duplicate. The embedded servers' passwords too
(services/common/credentials.py), which is why a secret is hex after a letter: safe in a URL, and read by
nats-server from its environment as a string, never a number.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def new_secret() -> str:
    return "k" + secrets.token_hex(32)


def kept_secret(path: Path) -> str:
    """The secret in `path`; made (random, 0600, created atomically so no one reads a half-written one) if absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)  # narrowed again if someone widened it
        return path.read_text().strip()
    secret = new_secret()
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
