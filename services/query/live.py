"""The live feed: new timeline entries of an incident as Server-Sent Events, as the projector commits them.

The projector NOTIFYs `crisis_timeline` with the incident id in the transaction that adds an entry; PostgreSQL
delivers it on COMMIT. The query process's one LISTEN connection (listener.py) wakes the streams of that incident,
and each stream reads the entries after the last one it sent (by stream sequence, the SSE event id) from the
read model: a missed or merged notification loses nothing, and a client that reconnects with `Last-Event-ID`
resumes exactly after the last entry it got. Heartbeats and closing on server shutdown are sse-starlette's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import structlog
from sse_starlette import EventSourceResponse, ServerSentEvent

from services.common.http import Unavailable
from services.query import event_log_views
from services.query.database import ReadModels

log = structlog.get_logger(__name__)

PAGE = 500


class TimelineNotifications:
    """Wakes the live streams of an incident when the projector commits entries for it (a handler of the
    process's Listener, on TIMELINE_CHANNEL)."""

    def __init__(self) -> None:
        self._streams: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, incident_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever entries of `incident_id` commit (and after the LISTEN connection comes back)."""
        wakeup = asyncio.Event()
        self._streams.setdefault(incident_id, set()).add(wakeup)
        try:
            yield wakeup
        finally:
            self._streams[incident_id].discard(wakeup)
            if not self._streams[incident_id]:
                del self._streams[incident_id]

    def on_notify(self, payload: str) -> None:
        self._wake({payload})

    def on_listening(self, up: bool) -> None:
        if up:  # notifications may have been missed while not listening
            self._wake(set(self._streams))

    def _wake(self, incidents: set[str]) -> None:
        for incident_id in incidents:
            for wakeup in self._streams.get(incident_id, ()):
                wakeup.set()


async def live_entries(
    read_models: ReadModels, notifications: TimelineNotifications, incident_id: str, after: int
) -> AsyncIterator[ServerSentEvent]:
    """Entries with a stream sequence above `after`, then each new one as it commits, until the client leaves
    or the server shuts down. PostgreSQL down ends the stream; the client reconnects with Last-Event-ID."""
    with notifications.watch(incident_id) as wakeup:
        while True:
            wakeup.clear()
            try:
                async with read_models.connection() as conn:
                    entries = await event_log_views.entries_after(conn, incident_id, after=after, limit=PAGE)
            except Unavailable as exc:
                log.warning("live feed ends: the read models are unavailable", reason=exc.reason)
                return
            for entry in entries:
                yield ServerSentEvent(id=str(entry.position), event="entry", data=entry.model_dump_json())
                after = entry.position
            if len(entries) < PAGE:
                await wakeup.wait()


class LiveFeed:
    """What the live route needs: the read models and the notifications."""

    def __init__(self, read_models: ReadModels, notifications: TimelineNotifications) -> None:
        self.read_models = read_models
        self.notifications = notifications

    def response(
        self, incident_id: str, after: int, headers: dict[str, str], heartbeat_s: float
    ) -> EventSourceResponse:
        entries = live_entries(self.read_models, self.notifications, incident_id, after)
        return EventSourceResponse(entries, ping=heartbeat_s, headers=headers)
