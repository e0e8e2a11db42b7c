"""The projector's view of a stream message, independent of the NATS client's Msg class."""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.aio.msg import Msg

from services.common.eventstream import EventStream


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
