"""What an embedded server wrote to its log, for error messages when it will not start."""

from pathlib import Path


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a server's log."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
