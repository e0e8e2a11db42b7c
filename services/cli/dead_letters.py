"""`crisis dead-letters list | show | retry | discard`: connect, act, and render for a terminal."""

from __future__ import annotations

import json
from enum import StrEnum

from services.common.database import DictConnection, connect
from services.common.settings import Settings
from services.projector import dead_letter_actions
from services.projector.dead_letters import DeadLetter, Status, get_dead_letter, list_dead_letters
from services.projector.operator_errors import select_projections
from services.projector.read_models import PROJECTIONS

TIME = "%Y-%m-%d %H:%M:%S%z"


class StatusFilter(StrEnum):
    open = "open"
    retried = "retried"
    discarded = "discarded"
    all = "all"


async def _connect(settings: Settings) -> DictConnection:
    """The live worker's kind of connection (dict rows): a retry runs the projection's handlers on it."""
    assert settings.database_url is not None
    return await connect(settings.database_url)


async def list_text(settings: Settings, projection: str | None, status: StatusFilter) -> str:
    name = select_projections(projection, PROJECTIONS)[0].name if projection else None
    wanted: Status | None = None if status is StatusFilter.all else status.value  # type: ignore[assignment]
    async with await _connect(settings) as conn:
        letters = await list_dead_letters(conn, name, wanted)
    header = f"{'id':>6} {'projection':<16} {'seq':>10} {'status':<9} {'attempts':>8}  {'last seen':<19}  error"
    rows = [
        f"{d.id:>6} {d.projection:<16} {d.stream_seq:>10} {d.status:<9} {d.attempts:>8}  "
        f"{d.last_seen:%Y-%m-%d %H:%M:%S}  {d.error[:80]}"
        for d in letters
    ]
    return "\n".join([header, *rows, f"{len(letters)} dead letter(s)"])


async def show_text(settings: Settings, dead_letter_id: int) -> str:
    async with await _connect(settings) as conn:
        letter = await get_dead_letter(conn, dead_letter_id)
    return render(letter)


def render(d: DeadLetter) -> str:
    return "\n".join(
        [
            f"id:          {d.id}",
            f"projection:  {d.projection}",
            f"stream seq:  {d.stream_seq}",
            f"subject:     {d.subject}",
            f"status:      {d.status}" + (f" at {d.resolved_at:{TIME}}" if d.resolved_at else ""),
            f"note:        {d.note or ''}",
            f"attempts:    {d.attempts} (first {d.first_seen:{TIME}}, last {d.last_seen:{TIME}})",
            f"error:       {d.error}",
            f"headers:     {json.dumps(d.headers, sort_keys=True)}",
            "payload:",
            d.payload.decode("utf-8", errors="replace"),
        ]
    )


async def retry(settings: Settings, dead_letter_id: int, note: str | None) -> str | None:
    async with await _connect(settings) as conn:
        return await dead_letter_actions.retry(conn, dead_letter_id, PROJECTIONS, note)


async def discard(settings: Settings, dead_letter_id: int, note: str | None) -> None:
    async with await _connect(settings) as conn:
        await dead_letter_actions.discard(conn, dead_letter_id, note)
