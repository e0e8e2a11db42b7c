"""The figures of `crisis status` in the projector's /metrics, refreshed in the background."""

from __future__ import annotations

import asyncio

import psycopg
import structlog
from nats.js.client import JetStreamContext
from prometheus_client import Gauge

from services.common.eventstream import EventStream
from services.projector.status import Status, sample
from services.projector.stopping import pause

log = structlog.get_logger(__name__)

REFRESH_S = 5.0

STREAM = Gauge("crisis_stream", "The event stream: messages, bytes, first_seq, last_seq", ["figure"])
POSITION = Gauge("crisis_projection_position", "Last stream sequence the projection applied", ["projection"])
LAG = Gauge("crisis_projection_lag", "Stream messages the projection has yet to apply", ["projection"])
RATE = Gauge("crisis_projection_rate", "Events per second applied, over the last refresh", ["projection"])
STATE = Gauge("crisis_projection_state", "1 for the projection's current state", ["projection", "state"])
STANDBYS = Gauge("crisis_projection_standbys", "Projector processes waiting to take over", ["projection"])
OPEN_DEAD_LETTERS = Gauge("crisis_projection_dead_letters", "Dead letters awaiting a decision", ["projection"])
STATES = ("active", "stopped", "rebuilding")


def publish(status: Status) -> None:
    for figure in ("messages", "bytes", "first_seq", "last_seq"):
        STREAM.labels(figure).set(getattr(status, figure))
    for p in status.projections:
        POSITION.labels(p.name).set(p.position)
        LAG.labels(p.name).set(p.lag)
        RATE.labels(p.name).set(p.rate)
        STANDBYS.labels(p.name).set(p.standbys)
        OPEN_DEAD_LETTERS.labels(p.name).set(p.dead_letters)
        for state in STATES:
            STATE.labels(p.name, state).set(1 if p.state == state else 0)


async def refresh_forever(
    js: JetStreamContext, database_url: str, stopping: asyncio.Event, stream: EventStream
) -> None:
    previous: Status | None = None
    while not stopping.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, connect_timeout=5) as conn:
                previous = await sample(js, conn, previous, stream)
            publish(previous)
        except Exception as exc:  # a server is down: the figures stay as they were, the projector goes on
            log.warning("status figures not refreshed", error=repr(exc))
        await pause(stopping, REFRESH_S)
