"""The query service's OpenAPI document declares what every read can answer."""

from __future__ import annotations

from pathlib import Path

from services.common.openapi import MALFORMED
from services.common.settings import Settings
from services.query.app import create_app


def test_every_read_that_takes_min_position_declares_its_400(tmp_path: Path) -> None:
    app = create_app(Settings(database_url="postgresql://unused.invalid/crisis", data_dir=tmp_path))
    operations = [op for path in app.openapi()["paths"].values() for op in path.values()]
    taking = [op for op in operations if any(p["name"] == "min_position" for p in op.get("parameters", []))]

    assert len(taking) >= 13
    # Its own 400, not only the one every operation documents for a malformed request.
    assert [op["operationId"] for op in taking if op["responses"]["400"] == MALFORMED] == []
