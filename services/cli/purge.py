"""`crisis purge`: remove an incident's (or single events') data from a protected stream, by rebuilding it.

The stream refuses purges and message deletes for good (deny_purge, deny_delete), but deleting the whole stream
is an admin call it still allows. So: copy the events to keep to a 0600 file in the data dir (the `crisis export`
format, so `crisis import` restores it if this run dies half-way), empty the read models, delete the stream,
create it again under the same name with at least its old protection, and republish the kept events in order,
each with its headers (its Nats-Msg-Id is its event id).

The read models are emptied, not replayed: every position they hold (checkpoints, processed event ids, dead
letters, webhook watermarks) names sequences that no longer exist, and `crisis replay`'s swap waits for the live
checkpoint, which lies beyond the renumbered stream's end. An empty database is what the projector rebuilds from
at its next start, with the code every other rebuild uses. The projector must be stopped: this command holds
its leases meanwhile, so one started during the purge waits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import psycopg
from nats.aio.client import Client
from psycopg import sql

from schemas.subjects import STREAM_NAME
from services.common.credentials import PRIVATE_FILE, private_dir
from services.common.eventstream import connect_options, ensure_stream
from services.common.settings import Settings
from services.projector.archive import MSG_ID, SLUG, export_lines, import_records, parse_lines
from services.projector.group import ProjectionGroup
from services.projector.lease import Lease, holders
from services.projector.operator_errors import OperatorError
from services.projector.read_models import PROJECTIONS
from services.projector.shadow import BOOKKEEPING

Say = Callable[[str], None]


@dataclass(frozen=True)
class Selection:
    """What to remove: every event of an incident, and events by id."""

    incident: str | None
    event_ids: frozenset[str]

    def describe(self) -> str:
        parts = [f"incident {self.incident}"] if self.incident else []
        return " and ".join(parts + ([f"{len(self.event_ids)} event id(s)"] if self.event_ids else []))

    def matches(self, line: dict[str, Any]) -> bool:
        if self.incident is not None and line["subject"].split(".")[2] == self.incident:
            return True
        return event_id(line) in self.event_ids


def event_id(line: dict[str, Any]) -> str | None:
    """An exported line's event id: the event's own, or the Nats-Msg-Id of a payload that is not JSON."""
    found = (line.get("event") or {}).get("event_id") or line["headers"].get(MSG_ID)
    return None if found is None else str(found)


@dataclass(frozen=True)
class Purged:
    kept: int
    removed: int
    last_seq: int


def select(incident: str | None, event_ids: list[str]) -> Selection:
    if incident is None and not event_ids:
        raise OperatorError("name what to remove: --incident ID and/or --event EVENT_ID")
    if incident is not None and not SLUG.match(incident):
        raise OperatorError(f"--incident {incident!r} is not an incident id (a lowercase slug like kg-2020-election)")
    return Selection(incident, frozenset(event_ids))


async def run(settings: Settings, incident: str | None, event_ids: list[str], confirmed: bool, say: Say) -> Purged:
    """Every check comes before the first change: a refusal leaves the stream and the database as they were."""
    assert settings.database_url is not None
    selection = select(incident, event_ids)
    lease = Lease(settings.database_url, ProjectionGroup.of(PROJECTIONS.values()))
    nc = await nats.connect(**connect_options(settings, "crisis-purge") | {"max_reconnect_attempts": 0})
    try:
        if confirmed:
            await _hold_leases(settings.database_url, lease)
        backup = _backup_path(settings.data_dir) if confirmed else None
        kept, removed, missing = await _split(nc, selection, backup)
        refusal = _refusal(selection, kept, removed, missing, confirmed)
        if refusal is not None or backup is None:
            if backup is not None:
                backup.unlink()
            raise OperatorError(refusal or "")
        say(f"kept events copied to {backup} ({kept}); removing {removed}")
        try:
            await _empty_read_models(settings.database_url, new_last_seq=kept)
            say("read models emptied: the projector rebuilds them at its next start")
            last_seq = await _rebuild_stream(nc, settings, backup)
            say(f"stream {STREAM_NAME} recreated and protected as before; {kept} event(s) republished")
        except BaseException:
            say(f"stopped half-way: the kept events stay in {backup}; `crisis import` it if the stream lacks them")
            raise
        backup.unlink()
        return Purged(kept=kept, removed=removed, last_seq=last_seq)
    finally:
        await lease.release()
        await nc.close()


async def _hold_leases(database_url: str, lease: Lease) -> None:
    """Refuse while any projector process runs (holding a lease or waiting for one); hold them all meanwhile."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        running = {name for name, (held, standbys) in (await holders(conn, PROJECTIONS)).items() if held or standbys}
    if running or not await lease.try_acquire():
        raise OperatorError(
            f"a projector is running (read models {', '.join(sorted(running)) or 'all'}): stop it first, "
            "then run crisis purge again"
        )


def _backup_path(data_dir: Path) -> Path:
    return private_dir(data_dir) / f"purge-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.jsonl"


async def _split(nc: Client, selection: Selection, backup: Path | None) -> tuple[int, int, set[str]]:
    """Count the events to keep and to remove, writing those to keep to `backup` (0600, never there before);
    returns also the event ids asked for that the stream does not hold."""
    kept = removed = 0
    missing = set(selection.event_ids)
    out = os.fdopen(os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "w") if backup else None
    try:
        async for text in export_lines(nc.jetstream(), None, None):
            line = json.loads(text)
            missing.discard(event_id(line) or "")
            if selection.matches(line):
                removed += 1
            else:
                kept += 1
                if out is not None:
                    out.write(text + "\n")
    except BaseException:
        if backup is not None:  # a partial copy is of no use
            os.unlink(backup)
        raise
    finally:
        if out is not None:
            out.close()
    return kept, removed, missing


def _refusal(selection: Selection, kept: int, removed: int, missing: set[str], confirmed: bool) -> str | None:
    if missing:
        return f"the stream holds no event with id {', '.join(sorted(missing))}: nothing done"
    if not removed:
        return f"the stream holds no event of {selection.describe()}: nothing done"
    if not confirmed:
        return (
            f"would remove {removed} event(s) ({selection.describe()}) and keep {kept}: nothing done; "
            "run again with --yes to remove them"
        )
    return None


async def _empty_read_models(database_url: str, new_last_seq: int) -> None:
    """One transaction: readers see the old read models or empty ones. Every position in them is about to go
    stale; webhooks resume after the republished events (the new stream numbers them from 1), which they were
    sent (or given up on) before."""
    tables = [t for p in PROJECTIONS.values() for t in p.tables] + [*BOOKKEEPING, "webhook_deliveries"]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, tables))))
        # A rebuild that a replay left half-done (its shadows and their bookkeeping) holds stale positions too.
        for (schema,) in await (
            await conn.execute("SELECT nspname FROM pg_namespace WHERE nspname ~ '^(rebuild|replay)_'")
        ).fetchall():
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        await conn.execute("UPDATE webhooks SET queued_to = %s", (new_last_seq,))


async def _rebuild_stream(nc: Client, settings: Settings, backup: Path) -> int:
    js = nc.jetstream()
    old = (await js.stream_info(STREAM_NAME)).config
    await js.delete_stream(STREAM_NAME)
    protected = settings.stream_protected or bool(old.deny_purge or old.deny_delete)
    await ensure_stream(nc, settings.model_copy(update={"stream_protected": protected}))
    with backup.open(encoding="utf-8") as lines:
        await import_records(js, parse_lines(lines, str(backup)))
    return (await js.stream_info(STREAM_NAME)).state.last_seq
