"""A secret generated once per data dir and kept there, readable by its owner only (0600), across restarts.

`crisis up` keeps ingest's event id secret this way: ids derived from an Idempotency-Key must stay the same
across a restart, or a retry after it would not be recognised as a duplicate.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def kept_secret(path: Path) -> str:
    """The secret in `path`; made (random, 0600, created atomically so no one reads a half-written one) if absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
