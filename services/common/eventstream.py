"""The JetStream event log: the one place the stream is declared, and the server version check.

faststream's `broker.start()` would re-declare (and could overwrite) streams, so every subscriber binds with
`JStream(STREAM_NAME, declare=False)` and only `ensure_stream` here creates or updates the stream.

The stream is protected (deny_purge, deny_delete) unless the operator turns that off: nobody, however they got
in, can purge it or delete one event. NATS lets an update set those flags, never clear them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import structlog
from faststream.nats.security import parse_security
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo, SubjectTransform
from nats.js.errors import NotFoundError

from schemas.subjects import STREAM_NAME, SUBJECT_PREFIX
from services.common.nats_auth import nats_security
from services.common.settings import Settings

log = structlog.get_logger(__name__)

MIN_NATS_VERSION = (2, 11, 0)


class StreamUnusable(RuntimeError):
    """The server or the stream found cannot serve this system as configured: a clear message, no retry helps."""


class NatsTooOld(StreamUnusable):
    pass


class PartitionsMismatch(StreamUnusable):
    """The stream exists with another number of partitions: that number is fixed when the stream is created."""


def check_server_version(nc: Client) -> None:
    version = nc.connected_server_version
    found = (version.major, version.minor, version.patch)
    if found < MIN_NATS_VERSION:
        wanted = ".".join(map(str, MIN_NATS_VERSION))
        raise NatsTooOld(
            f"nats-server {'.'.join(map(str, found))} is too old: JetStream features this system relies on "
            f"need nats-server >= {wanted}"
        )


def connect_options(settings: Settings, name: str) -> dict[str, Any]:
    """Options for `nats.connect`: reconnect forever, never give up on start; credentials and TLS from settings."""
    return _reconnecting(settings, name) | parse_security(nats_security(settings))


def _reconnecting(settings: Settings, name: str) -> dict[str, Any]:
    return {
        "servers": [settings.nats_url or "nats://127.0.0.1:4222"],
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
    }


def broker_options(settings: Settings, name: str) -> dict[str, Any]:
    """`connect_options` plus logging: faststream logs through our structlog setup, per message at DEBUG only."""
    # faststream takes the credentials and TLS as one `security` object rather than as connect options.
    security = nats_security(settings)
    return (
        _reconnecting(settings, name)
        | ({"security": security} if security else {})
        | {"logger": logging.getLogger("faststream"), "log_level": logging.DEBUG}
    )


@dataclass(frozen=True)
class EventStream:
    """The event stream's name and subjects on its NATS server: the contract's (schemas/subjects.py) unless the
    settings name another, as `crisis bench --stream` does beside a production stream.

    With `partitions` N > 1, the stream stores each event under `<prefix>.<incident>.<EventType>.<K>`: a subject
    transform appends the incident's partition K = partition(N) of the incident token (NATS's FNV-1a hash), so one
    projector per partition can filter its share and every event of an incident lands in the same one. The token
    goes last so that filters by incident (`<prefix>.<incident>.>`) and of everything (`<prefix>.>`) keep working.
    N = 1 stores the contract's subjects unchanged."""

    name: str = STREAM_NAME
    prefix: str = SUBJECT_PREFIX
    partitions: int = 1

    @classmethod
    def of(cls, settings: Settings) -> EventStream:
        return cls(settings.stream_name, settings.subject_prefix, settings.stream_partitions)

    @property
    def all_events(self) -> str:
        return f"{self.prefix}.>"

    def subject(self, incident_id: str, event_type: str) -> str:
        """The subject an event is published to (the stream may store it with its partition appended)."""
        return f"{self.prefix}.{incident_id}.{event_type}"

    def incident_subjects(self, incident_id: str) -> str:
        return f"{self.prefix}.{incident_id}.>"

    @property
    def stored_subjects(self) -> str:
        """What the stream takes: partitioned, only <prefix>.<incident>.<EventType> (a publisher cannot choose
        the partition)."""
        return self.all_events if self.partitions == 1 else f"{self.prefix}.*.*"

    def partition_events(self, partition: int) -> str:
        """The stored subjects of one partition's events."""
        if not 0 <= partition < self.partitions:
            raise ValueError(
                f"partition {partition} does not exist: the stream has partitions 0..{self.partitions - 1}"
            )
        return self.all_events if self.partitions == 1 else f"{self.prefix}.*.*.{partition}"

    def published_subject(self, stored: str) -> str:
        """The subject an event was published to, from the one the stream stored it under (with or without a
        partition token)."""
        return ".".join(stored.split(".")[: self.prefix.count(".") + 3])

    @property
    def subject_transform(self) -> SubjectTransform | None:
        if self.partitions == 1:
            return None
        return SubjectTransform(
            src=self.stored_subjects,
            dest=f"{self.prefix}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{partition({self.partitions},1)}}}}",
        )


def stored_partitions(config: StreamConfig) -> int:
    """How many partitions an existing stream was created with (1: no partition transform)."""
    match = re.search(r"\{\{\s*partition\((\d+)", config.subject_transform.dest if config.subject_transform else "")
    return int(match.group(1)) if match else 1


DEFAULT_STREAM = EventStream()


def stream_config(settings: Settings) -> StreamConfig:
    # The event log keeps everything: no age, count or size limit, file storage, and a duplicate window
    # that turns client retries (same Nats-Msg-Id) into no-ops.
    stream = EventStream.of(settings)
    return StreamConfig(
        name=stream.name,
        description="Crisis events: the durable log and source of truth",
        subjects=[stream.stored_subjects],
        subject_transform=stream.subject_transform,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_age=0,
        max_msgs=-1,
        max_bytes=-1,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.stream_duplicate_window_s,
        allow_direct=True,
        # A batch of events is stored whole or not at all, in one write (ingest's batches; nats-server >= 2.12).
        allow_atomic=True,
        deny_purge=settings.stream_protected,
        deny_delete=settings.stream_protected,
    )


async def ensure_stream(nc: Client, settings: Settings) -> StreamInfo:
    """Create the stream, or bring an existing one's settings in line; never deletes messages."""
    check_server_version(nc)
    js = nc.jetstream()
    config = stream_config(settings)
    try:
        existing = (await js.stream_info(config.name or "")).config
    except NotFoundError:
        return await js.add_stream(config)
    wanted, found = EventStream.of(settings).partitions, stored_partitions(existing)
    if wanted != found:
        raise PartitionsMismatch(
            f"the stream {config.name} was created with {found} partition(s), and CRISIS_STREAM_PARTITIONS is "
            f"{wanted}: the number is fixed when the stream is created; set it to {found}"
        )
    if config.deny_purge and not existing.deny_purge:
        log.warning("protecting the event stream: from now on it refuses purges and message deletes, for good")
    # Flags the stream already has stay: NATS refuses an update that clears them.
    config.deny_purge = bool(config.deny_purge or existing.deny_purge)
    config.deny_delete = bool(config.deny_delete or existing.deny_delete)
    return await js.update_stream(config)
