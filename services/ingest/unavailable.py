"""Which NATS failures mean "try again later" (HTTP 503 with Retry-After) rather than a bug (HTTP 500)."""

from __future__ import annotations

import nats.errors
import nats.js.errors
from faststream.exceptions import IncorrectState

from services.common.http import Unavailable

NATS_UNAVAILABLE: tuple[type[Exception], ...] = (
    # No answer within the timeout; also what a publish gets while the client is reconnecting (it is buffered).
    nats.errors.TimeoutError,
    # No stream listens on the subject (publish), or JetStream is disabled / has no leader (API calls).
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    # The client is closed, draining, reconnecting, or its reconnect buffer is full.
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    # faststream: the broker has no connection (yet, or any more).
    IncorrectState,
)


def unavailable(exc: BaseException, doing: str) -> Unavailable:
    # nats-py's messages are terse ("nats: timeout"); name the class so an operator can tell the cases apart.
    return Unavailable(f"NATS did not answer while {doing} ({type(exc).__name__}: {exc})")
