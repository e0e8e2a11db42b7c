"""`crisis export` / `crisis import`: the stream as JSON lines, for backup, restore and moving between clusters.

Each line is one stored message: its sequence, subject (as published: without the partition token a partitioned
stream stores), headers and the event (or, for bytes that are not JSON,
`payload_base64`). Import publishes each again with its headers, less those that only told JetStream how to take
it the first time (an expected position, the atomic batch it came in), and its `Nats-Msg-Id` (the event id when
the header is missing),
so JetStream drops repeats inside its duplicate window and the projector's dedupe by event id drops the rest:
importing a file twice changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from schemas.headers import republishable
from schemas.subjects import ALL_EVENTS, STREAM_NAME, SUBJECT_PREFIX, incident_subjects
from services.common.eventstream import DEFAULT_STREAM
from services.projector.operator_errors import OperatorError
from services.projector.replay import FETCH_WAIT_S, temporary_consumer

MSG_ID = "Nats-Msg-Id"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PUBLISH_CHUNK = 500  # publishes in flight at once


async def export_lines(js: JetStreamContext, incident: str | None, from_seq: int | None) -> AsyncIterator[str]:
    """The stream's messages as JSON lines, from `from_seq` up to the last one stored when the export began."""
    if incident is not None and not SLUG.match(incident):
        raise OperatorError(f"--incident {incident!r} is not an incident id (a lowercase slug like kg-2020-election)")
    state = (await js.stream_info(STREAM_NAME)).state
    if from_seq is not None and not 1 <= from_seq <= state.last_seq:
        raise OperatorError(
            f"--from-seq {from_seq} is beyond the stream (sequences {state.first_seq}..{state.last_seq})"
        )
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=from_seq or max(state.first_seq, 1),
        ack_policy=AckPolicy.NONE,
        filter_subject=incident_subjects(incident) if incident else ALL_EVENTS,
    )
    async with temporary_consumer(js, config) as sub:
        while True:
            try:
                msgs = await sub.fetch(PUBLISH_CHUNK, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                return  # nothing more matches up to the end
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq > state.last_seq:
                    return
                yield json.dumps(
                    {"seq": seq, "subject": DEFAULT_STREAM.published_subject(msg.subject)}
                    | {"headers": dict(msg.headers or {})}
                    | _body(msg.data)
                )
                if seq == state.last_seq or msg.metadata.num_pending == 0:
                    return


def _body(data: bytes) -> dict[str, Any]:
    try:
        return {"event": json.loads(data)}
    except ValueError:
        return {"payload_base64": base64.b64encode(data).decode()}


@dataclass(frozen=True)
class Record:
    subject: str
    payload: bytes
    headers: dict[str, str]


def parse_lines(lines: Iterable[str], source: str) -> list[Record]:
    """Every line checked before anything is published: a bad file publishes nothing."""
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            item = json.loads(line)
            subject, headers = item["subject"], dict(item.get("headers") or {})
            payload = (
                json.dumps(item["event"]).encode() if "event" in item else base64.b64decode(item["payload_base64"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OperatorError(f"{where}: not an exported event ({type(exc).__name__}: {exc})") from None
        if not isinstance(subject, str) or not subject.startswith(f"{SUBJECT_PREFIX}."):
            raise OperatorError(f"{where}: subject {subject!r} is outside the event stream ({SUBJECT_PREFIX}.>)")
        msg_id = headers.get(MSG_ID) or (item.get("event") or {}).get("event_id")
        if not msg_id:
            raise OperatorError(f"{where}: no {MSG_ID} header and no event_id: it could not be imported idempotently")
        # Published again as first published: the target stream appends its own partition, if it has partitions.
        published = DEFAULT_STREAM.published_subject(subject)
        records.append(
            Record(subject=published, payload=payload, headers={**republishable(headers), MSG_ID: str(msg_id)})
        )
    return records


async def import_records(js: JetStreamContext, records: list[Record]) -> tuple[int, int]:
    """Publish them in order of the file; returns (stored, dropped as duplicates by JetStream)."""
    stored = duplicates = 0
    for start in range(0, len(records), PUBLISH_CHUNK):
        chunk = records[start : start + PUBLISH_CHUNK]
        acks = await asyncio.gather(*(js.publish(r.subject, r.payload, headers=r.headers, timeout=30) for r in chunk))
        duplicates += sum(1 for a in acks if a.duplicate)
        stored += sum(1 for a in acks if not a.duplicate)
    return stored, duplicates
