"""A data dir's secret is made once, random and 0600, and read back unchanged afterwards."""

from __future__ import annotations

from pathlib import Path

from services.common.kept_secret import kept_secret


def test_a_secret_is_made_once_owner_only_and_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "secret"

    made = kept_secret(path)

    assert len(made) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert kept_secret(path) == made
    assert kept_secret(tmp_path / "another") != made
