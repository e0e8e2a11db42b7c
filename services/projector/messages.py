"""The projector's view of a stream message, independent of the NATS client's Msg class."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from schemas.catalogue import UnknownEventType, parse_event
from schemas.envelope import Event
from services.common.eventstream import EventStream
from services.common.logging import CORRELATION_HEADER
from services.projector.projection import Position

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_nats(cls, msg: Msg, stream: EventStream) -> StreamMessage:
        """The message under the subject it was published to: read models are the same however many partitions
        the stream has."""
        return cls(
            seq=msg.metadata.sequence.stream,
            subject=stream.published_subject(msg.subject),
            data=msg.data,
            headers=dict(msg.headers or {}),
        )

    @cached_property
    def position(self) -> Position:
        """One for the message, so that what read models work out ahead of time from it (kept with its position)
        is found when the message is applied."""
        return Position(seq=self.seq, subject=self.subject)

    @cached_property
    def event(self) -> Event[Any] | str:
        """The event, or why it cannot be decoded (as dead letters record it). Decoded once, however many read
        models or shadows apply it, and possibly ahead of time (while the batch before is committing)."""
        try:
            return parse_event(self.data)
        except (UnknownEventType, ValidationError, ValueError) as exc:
            log.warning("event cannot be decoded", seq=self.seq, error=str(exc),
                        correlation_id=self.headers.get(CORRELATION_HEADER))  # fmt: skip
            return f"undecodable: {exc}"
