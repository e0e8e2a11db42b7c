"""The subject taxonomy of the event stream: `crisis.events.<incident_id>.<EventType>`.

Subscribers filter by incident (`crisis.events.kg-2020-election.>`), by type (`crisis.events.*.ResultsAnnulled`),
or take everything (`crisis.events.>`).
"""

STREAM_NAME = "CRISIS_EVENTS"
SUBJECT_PREFIX = "crisis.events"
ALL_EVENTS = f"{SUBJECT_PREFIX}.>"


def event_subject(incident_id: str, event_type: str) -> str:
    return f"{SUBJECT_PREFIX}.{incident_id}.{event_type}"


def incident_subjects(incident_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{incident_id}.*"
