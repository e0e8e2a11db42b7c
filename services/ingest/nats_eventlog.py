"""The event log on NATS JetStream: a broker that keeps connecting, and a stream declared once.

Ingest must start, answer /readyz with 503 and POSTs with 503, while NATS is down, then recover by itself. So:
- `start` begins connecting in a background task (nats-py retries forever with our connect options) and waits
  only for the first attempt. If it succeeds the stream is declared right away, and a server that is too old
  stops the start; if it fails, ingest starts anyway.
- `_client()`, used by every publish and by /readyz, answers 503 until the connection is up, and declares the
  stream on first use if that could not be done at start (or again after a publish found no stream).
faststream's broker only holds the connection; publisher.py and acks.py publish with nats-py.
It raises the domain errors of errors.py, never an HTTP error: the routes decide what the writer is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from schemas.envelope import Event
from services.common.eventstream import EventStream, StreamUnusable, broker_options, ensure_stream
from services.common.http import Unavailable
from services.common.settings import Settings
from services.ingest.acks import Acks
from services.ingest.errors import IncidentMoved, TakenId, refuse_taken
from services.ingest.eventlog import Published
from services.ingest.group_commit import GroupCommit
from services.ingest.ownership import taken_because
from services.ingest.publisher import ATOMIC_BATCH_LIMIT, PositionMoved, publish_events
from services.ingest.unavailable import NATS_UNAVAILABLE, unavailable

log = structlog.get_logger(__name__)


class NatsEventLog:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stream = EventStream.of(settings)
        self._broker = NatsBroker(
            **broker_options(settings, "crisis-ingest"),
            error_cb=self._connection_error,
        )
        self._connecting: asyncio.Task[Client] | None = None
        self._attempt_failed = asyncio.Event()
        self._declare_lock = asyncio.Lock()
        self._stream_declared = False
        self._atomic_batches = False  # whether the stream takes atomic batches (nats-server >= 2.12)

    async def _connection_error(self, exc: Exception) -> None:
        self._attempt_failed.set()
        log.warning("nats connection error", error=f"{type(exc).__name__}: {exc}")

    async def start(self) -> None:
        self._connecting = asyncio.create_task(self._broker.connect(), name="ingest-nats-connect")
        failed = asyncio.create_task(self._attempt_failed.wait())
        await asyncio.wait({self._connecting, failed}, return_when=asyncio.FIRST_COMPLETED)
        failed.cancel()
        if not self._connecting.done():
            log.warning("NATS unreachable at start; connecting in the background", url=self._settings.nats_url)
            return
        client = self._connecting.result()  # raises what nats-py gives up on (e.g. bad credentials)
        with contextlib.suppress(Unavailable):  # logged; retried on first use. StreamUnusable is not caught.
            await self._declare_stream(client)

    async def stop(self) -> None:
        task = self._connecting
        if task is None:
            return
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        if task.cancelled() or task.exception() is not None:
            return
        try:
            await self._broker.stop()  # drains: in-flight publishes get their acks
        except (nats.errors.Error, OSError) as exc:
            # NATS is gone or going (reconnecting, closed, or the socket reset mid-drain): nothing can be
            # flushed, so close without waiting. nats-py may still fail writing its buffer to the dead socket.
            log.warning("NATS connection not drained on shutdown", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(nats.errors.Error, OSError):
                await task.result().close()

    async def _client(self) -> Client:
        """The connection, up, with the stream declared; raises Unavailable otherwise (the readiness check)."""
        task = self._connecting
        if task is None or not task.done():
            raise Unavailable("not connected to NATS yet")
        if task.cancelled() or task.exception() is not None:
            raise Unavailable(f"cannot connect to NATS: {task.exception()!r}")
        client = task.result()
        if not client.is_connected:
            raise Unavailable("the connection to NATS is lost; reconnecting")
        if not self._stream_declared:
            try:
                await self._declare_stream(client)
            except StreamUnusable as exc:
                raise Unavailable(str(exc), retry_after_s=60) from exc
        return client

    async def publish(self, events: Sequence[Event[Any]], expected_position: int | None = None) -> list[Published]:
        """Publish in order; with `expected_position` (of the first event's incident), IncidentMoved on conflict.
        An id stored already as another event (another writer's, or another body) is EventIdTaken."""
        results = await self._publish(events, expected_position)
        await self._refuse_taken_ids(events, results)
        return results

    async def _publish(self, events: Sequence[Event[Any]], expected_position: int | None) -> list[Published]:
        await self._client()
        timeout = self._settings.publish_timeout_s
        try:
            if len(events) == 1 and expected_position is None and self._atomic_batches:
                return [await self._group_commit.publish(events[0])]
            return await publish_events(
                self._acks, self._stream, events, timeout, expected_position, self._atomic_batches
            )
        except PositionMoved as moved:
            stored = await self._stored_after(moved)
            if stored is None:
                raise IncidentMoved(moved.event.incident_id, moved.expected, await self._position(moved)) from moved
            # The first event is in the stream already (an earlier attempt or request): finish what it began.
            return [stored, *await self._publish(events[1:], None)] if len(events) > 1 else [stored]
        except Unavailable as exc:
            if isinstance(exc.__cause__, nats.js.errors.NoStreamResponseError):
                self._stream_declared = False  # the stream went away (deleted by an operator): declare it again
            raise

    async def _refuse_taken_ids(self, events: Sequence[Event[Any]], results: list[Published]) -> None:
        """EventIdTaken when a duplicate's stored message is not this event (read back by its sequence)."""
        duplicates = [(i, r) for i, r in enumerate(results) if r.duplicate]
        if not duplicates:
            return  # the common case; an empty gather still makes a future
        stored = await asyncio.gather(*(self._stored_headers(r.seq) for _, r in duplicates))
        taken = [
            TakenId(i, r.event_id, reason)
            for (i, r), headers in zip(duplicates, stored, strict=True)
            if (reason := taken_because(events[i], headers)) is not None
        ]
        refuse_taken(taken, results)

    async def _stored_headers(self, seq: int) -> dict[str, str]:
        try:
            msg = await self._jetstream().get_msg(self._stream.name, seq=seq)
        except nats.js.errors.NotFoundError:
            return {}  # deleted since it was acknowledged: nothing left to compare with
        except NATS_UNAVAILABLE as exc:
            raise unavailable(exc, "reading back a duplicate") from exc
        return dict(msg.headers or {})

    async def _stored_after(self, moved: PositionMoved) -> Published | None:
        """The refused event as stored already, if it is the incident's first message after the expected position.

        The expectation held when it was stored, so if it is stored at all, it is there; this makes a retry with
        the same event id and position (after an ambiguous timeout, or from the client) a duplicate, not a 409.
        """
        subjects = self._stream.incident_subjects(moved.event.incident_id)
        try:
            msg = await self._jetstream().get_msg(
                self._stream.name, seq=moved.expected + 1, subject=subjects, next=True
            )
        except nats.js.errors.NotFoundError:
            return None
        except NATS_UNAVAILABLE as exc:
            raise unavailable(exc, "checking a refused event") from exc
        if (msg.headers or {}).get("Nats-Msg-Id") != str(moved.event.event_id):
            return None
        return Published(event_id=moved.event.event_id, seq=msg.seq or 0, duplicate=True, subject=msg.subject or "")

    async def _position(self, moved: PositionMoved) -> int:
        """The incident's position: the stream sequence of its last event."""
        try:
            last = await self._jetstream().get_msg(
                self._stream.name, subject=self._stream.incident_subjects(moved.event.incident_id)
            )
        except nats.js.errors.NotFoundError:
            return 0
        except NATS_UNAVAILABLE as exc:
            raise unavailable(exc, "reading the incident's position") from exc
        return last.seq or 0

    @functools.cached_property
    def _acks(self) -> Acks:
        """Every publish's acks come through one subscription."""
        assert self._connecting is not None  # only called after _client() found the connection up
        return Acks(self._connecting.result())

    @functools.cached_property
    def _group_commit(self) -> GroupCommit:
        """Single events without an expectation, of every request, published in groups."""
        timeout = self._settings.publish_timeout_s
        return GroupCommit(
            lambda events: publish_events(self._acks, self._stream, events, timeout, atomic=True),
            most=ATOMIC_BATCH_LIMIT,
        )

    def _jetstream(self) -> JetStreamContext:
        assert self._connecting is not None  # only called after _client() found the connection up
        return self._connecting.result().jetstream(timeout=self._settings.publish_timeout_s)

    async def check(self) -> None:
        await self._client()

    async def _declare_stream(self, client: Client) -> None:
        async with self._declare_lock:  # concurrent first requests declare once
            if self._stream_declared:
                return
            try:
                info = await ensure_stream(client, self._settings)
            except NATS_UNAVAILABLE as exc:
                log.warning("cannot declare the event stream yet", error=f"{type(exc).__name__}: {exc}")
                raise unavailable(exc, "declaring the event stream") from exc
            self._stream_declared = True
            self._atomic_batches = bool(info.config.allow_atomic)
            log.info("event stream ready", stream=info.config.name, messages=info.state.messages)
