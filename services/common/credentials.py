"""Secrets a data dir keeps for `crisis up`: each one random, generated once, in a file only its owner may read.

The threat is another user on the same host: every file is created 0600 (never briefly readable by others,
whatever the umask) inside a 0700 directory, and a file found with wider rights is narrowed again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """`path`, created if missing, that only its owner may enter."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, readable by its owner only (a reader never sees half a file)."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    staging.replace(path)


def new_password() -> str:
    # Hex after a letter: safe in URLs, and nats-server reads it from its environment as a string, not a number.
    return "k" + secrets.token_hex(20)


def kept_secret(path: Path) -> str:
    """The secret in `path`, generated and written there (0600) on first use."""
    if path.exists():
        path.chmod(PRIVATE_FILE)
        return path.read_text(encoding="utf-8").strip()
    secret = new_password()
    write_private(path, secret + "\n")
    return secret
