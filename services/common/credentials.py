"""Files and directories only their owner may read: what `crisis up` keeps its credentials and server URLs in.

The threat is another user on the same host: every file is created 0600 (never briefly readable by others,
whatever the umask) inside a 0700 directory. Each credential is a kept secret (services/common/kept_secret.py).
"""

from __future__ import annotations

import os
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
