"""A subscriber of the crisis event stream, using nothing of this project: only nats-py, jsonschema, and the
published JSON Schemas (schemas/generated/ in the repository).

It creates (or resumes) a durable pull consumer filtered by incident and event type, starting from a moment,
validates every event against the schema of its type and version, does its own work (here: prints a line), and
acknowledges only after that work is done, so an event is never lost if the subscriber dies half-way.

    pip install nats-py jsonschema
    python subscriber.py --nats-url nats://127.0.0.1:4222 --schemas path/to/schemas/generated \\
        --durable my-service --incident kg-2020-election --type ResultsAnnulled --type CasualtiesReported \\
        --since 2020-10-01T00:00:00Z

Run it again with the same --durable and it resumes where it left off (the server keeps the position).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from jsonschema import Draft202012Validator
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "CRISIS_EVENTS"
SUBJECT_PREFIX = "crisis.events"  # crisis.events.<incident_id>.<EventType>


def load_validators(schema_dir: Path) -> dict[tuple[str, int], Draft202012Validator]:
    """One validator per (event type, schema version), from events/<Type>.v<N>.json."""
    validators = {}
    for path in sorted((schema_dir / "events").glob("*.json")):
        schema = json.loads(path.read_text())
        key = (schema["properties"]["type"]["const"], schema["properties"]["schema_version"]["const"])
        validators[key] = Draft202012Validator(schema)
    return validators


def subjects(incident: str | None, types: list[str]) -> list[str]:
    """NATS subject filters: `*` matches any one incident, `>` any type."""
    incident_token = incident or "*"
    return [f"{SUBJECT_PREFIX}.{incident_token}.{t}" for t in types] or [f"{SUBJECT_PREFIX}.{incident_token}.>"]


def consumer_config(durable: str, filters: list[str], since: datetime | None) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        filter_subjects=filters,
        deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
        opt_start_time=since,
        ack_policy=AckPolicy.EXPLICIT,  # nothing is done until we say so
        ack_wait=30,  # seconds: unacknowledged events are redelivered after this
        max_ack_pending=100,
    )


def handle(event: dict[str, Any], seq: int) -> None:
    """The subscriber's own work. Here: one JSON line per event."""
    line = {"seq": seq, "type": event["type"], "incident_id": event["incident_id"], "event_id": event["event_id"]}
    print(json.dumps(line), flush=True)


async def run(args: argparse.Namespace) -> int:
    validators = load_validators(args.schemas)
    nc = await nats.connect(args.nats_url)
    try:
        js = nc.jetstream()
        await js.add_consumer(STREAM, consumer_config(args.durable, subjects(args.incident, args.type), args.since))
        subscription = await js.pull_subscribe_bind(args.durable, STREAM)
        handled = 0
        while args.max_events is None or handled < args.max_events:
            try:
                messages = await subscription.fetch(batch=50, timeout=5)
            except FetchTimeout:
                continue  # nothing new yet
            for msg in messages:
                seq = msg.metadata.sequence.stream
                event = json.loads(msg.data)
                validator = validators.get((event.get("type"), event.get("schema_version")))
                problems = [e.message for e in validator.iter_errors(event)] if validator else ["no schema for it"]
                if problems:
                    # It will never become valid: report it and stop redelivery (a real service might store it).
                    print(json.dumps({"seq": seq, "invalid": problems}), file=sys.stderr, flush=True)
                    await msg.term()
                    continue
                handle(event, seq)
                await msg.ack_sync()  # after the work, confirmed by the server
                handled += 1
        return 0
    finally:
        await nc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--schemas", type=Path, required=True, help="the folder with envelope.json and events/")
    parser.add_argument("--durable", required=True, help="the consumer's name: the server keeps its position")
    parser.add_argument("--incident", help="only this incident (default: every incident)")
    parser.add_argument("--type", action="append", default=[], help="only this event type (repeatable)")
    parser.add_argument("--since", type=datetime.fromisoformat, help="start at this moment (ISO 8601 with zone)")
    parser.add_argument("--max-events", type=int, help="stop after handling this many events")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
