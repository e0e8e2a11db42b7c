"""`crisis export` and `crisis import`: connect to NATS and stream JSON lines out or in."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import nats

from services.common.eventstream import connect_options, ensure_stream
from services.common.settings import Settings
from services.projector.archive import export_lines, import_records, parse_lines
from services.projector.operator_errors import OperatorError


async def export(settings: Settings, out: TextIO, incident: str | None, from_seq: int | None) -> int:
    nc = await nats.connect(**connect_options(settings, "crisis-export") | {"max_reconnect_attempts": 0})
    count = 0
    try:
        async for line in export_lines(nc.jetstream(), incident, from_seq):
            out.write(line + "\n")
            count += 1
    finally:
        await nc.close()
    return count


async def import_file(settings: Settings, path: Path) -> tuple[int, int]:
    try:
        with path.open(encoding="utf-8") as lines:
            records = parse_lines(lines, str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise OperatorError(f"cannot read {path}: {exc}") from None
    nc = await nats.connect(**connect_options(settings, "crisis-import") | {"max_reconnect_attempts": 0})
    try:
        await ensure_stream(nc, settings)  # a new cluster gets the stream first
        return await import_records(nc.jetstream(), records)
    finally:
        await nc.close()
