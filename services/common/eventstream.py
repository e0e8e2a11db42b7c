"""The JetStream event log: the one place the stream is declared, and the server version check.

faststream's `broker.start()` would re-declare (and could overwrite) streams, so every subscriber binds with
`JStream(STREAM_NAME, declare=False)` and only `ensure_stream` here creates or updates the stream.

The stream is protected (deny_purge, deny_delete) unless the operator turns that off: nobody, however they got
in, can purge it or delete one event. NATS lets an update set those flags, never clear them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import structlog
from faststream.nats.security import parse_security
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError

from schemas.subjects import STREAM_NAME, SUBJECT_PREFIX
from services.common.nats_auth import nats_security
from services.common.settings import Settings

log = structlog.get_logger(__name__)

MIN_NATS_VERSION = (2, 11, 0)


class NatsTooOld(RuntimeError):
    pass


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
    settings name another, as `crisis bench --stream` does beside a production stream."""

    name: str = STREAM_NAME
    prefix: str = SUBJECT_PREFIX

    @classmethod
    def of(cls, settings: Settings) -> EventStream:
        return cls(settings.stream_name, settings.subject_prefix)

    @property
    def all_events(self) -> str:
        return f"{self.prefix}.>"

    def subject(self, incident_id: str, event_type: str) -> str:
        return f"{self.prefix}.{incident_id}.{event_type}"

    def incident_subjects(self, incident_id: str) -> str:
        return f"{self.prefix}.{incident_id}.*"


DEFAULT_STREAM = EventStream()


def stream_config(settings: Settings) -> StreamConfig:
    # The event log keeps everything: no age, count or size limit, file storage, and a duplicate window
    # that turns client retries (same Nats-Msg-Id) into no-ops.
    stream = EventStream.of(settings)
    return StreamConfig(
        name=stream.name,
        description="Crisis events: the durable log and source of truth",
        subjects=[stream.all_events],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_age=0,
        max_msgs=-1,
        max_bytes=-1,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.stream_duplicate_window_s,
        allow_direct=True,
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
    if config.deny_purge and not existing.deny_purge:
        log.warning("protecting the event stream: from now on it refuses purges and message deletes, for good")
    # Flags the stream already has stay: NATS refuses an update that clears them.
    config.deny_purge = bool(config.deny_purge or existing.deny_purge)
    config.deny_delete = bool(config.deny_delete or existing.deny_delete)
    return await js.update_stream(config)
