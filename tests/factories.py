"""Builders of realistic events for tests, through the real contract models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.catalogue import payload_class
from schemas.envelope import Event
from schemas.subjects import event_subject

BASE_TIME = datetime(2020, 10, 5, 18, 0, tzinfo=UTC)

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "IncidentOpened": {"title": "Test incident"},
    "ResultsAnnulled": {
        "election_id": "parl-2020",
        "annulled_by": {
            "id": "central-election-commission-kg",
            "name": "Central Election Commission",
            "kind": "state_body",
        },
        "reason": "tension",
    },
    "CasualtiesReported": {"figures": [{"category": "injured", "count": {"value": 590}}]},
    "StatementIssued": {"speaker": {"id": "someone", "name": "Someone", "kind": "person"}, "quote": "Stay calm."},
}


def make_event(incident_id: str, event_type: str = "StatementIssued", minute: int = 0, **data: Any) -> Event[Any]:
    cls = payload_class(event_type)
    payload = {**SAMPLE_DATA.get(event_type, {}), **data}
    return Event[cls].model_validate(  # type: ignore[valid-type]
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "schema_version": cls.schema_version,
            "incident_id": incident_id,
            "occurred_at": (BASE_TIME + timedelta(minutes=minute)).isoformat(),
            "recorded_at": datetime.now(UTC).isoformat(),
            "source": {"name": "Test wire", "kind": "media"},
            "data": payload,
        }
    )


def subject_of(event: Event[Any]) -> str:
    return event_subject(event.incident_id, event.type)


def publish_args(event: Event[Any]) -> dict[str, Any]:
    """Keyword arguments for nats-py `js.publish`, as ingest would publish the event."""
    return {
        "subject": subject_of(event),
        "payload": event.model_dump_json().encode(),
        "headers": {"Nats-Msg-Id": str(event.event_id), "X-Correlation-ID": f"test-{event.event_id}"},
    }


def incident_opened(incident: str, title: str = "Protests after the parliamentary election") -> dict[str, Any]:
    return {
        "type": "IncidentOpened",
        "incident_id": incident,
        "occurred_at": "2020-10-05T18:00:00+06:00",
        "source": {"name": "AKIpress", "kind": "media"},
        "data": {"title": title},
    }


def results_annulled(incident: str) -> dict[str, Any]:
    return {
        "type": "ResultsAnnulled",
        "incident_id": incident,
        "occurred_at": "2020-10-06T09:00:00+06:00",
        "source": {"name": "Central Election Commission", "kind": "state_body"},
        "data": {
            "election_id": "kg-2020-parliament",
            "annulled_by": {
                "id": "central-election-commission-kg",
                "name": "Central Election Commission",
                "kind": "state_body",
            },
            "reason": "to ease tension after the protests",
        },
    }
