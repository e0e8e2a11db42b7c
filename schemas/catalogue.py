"""The catalogue: every event type the system knows, by name. Adding a type is one class and one entry here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from schemas.envelope import Event, EventSubmission, event_class, submission_class
from schemas.events.actors import ActorRegistered
from schemas.events.base import NEW_SUBMISSION, EventPayload
from schemas.events.casualties import CasualtiesReported
from schemas.events.detentions import PersonDetained, PrisonerReleased
from schemas.events.disasters import DisasterStruck
from schemas.events.elections import ElectionHeld, ResultsAnnounced, ResultsAnnulled, ResultsCertified
from schemas.events.facts import EventsLinked, ReportCorrected, ReportRetracted, VerificationChanged
from schemas.events.incidents import IncidentMerged, IncidentOpened, IncidentUpdated
from schemas.events.observers import ObserverFindingsPublished
from schemas.events.political import (
    BodyFormed,
    OfficialAppointed,
    OfficialRemoved,
    OfficialResigned,
    StatementIssued,
    StateOfEmergencyDeclared,
)
from schemas.events.security import CommunicationsShutdown, SecurityForcesDeployed
from schemas.events.unrest import BuildingStormed, CrowdDispersed, PropertyDestroyed, ProtestReported
from schemas.json_validation import straight_validator
from schemas.upcasting import upcast

EVENT_TYPES: Mapping[str, type[EventPayload]] = {
    cls.event_type(): cls
    for cls in (
        IncidentOpened,
        IncidentUpdated,
        IncidentMerged,
        ActorRegistered,
        ElectionHeld,
        ResultsAnnounced,
        ResultsAnnulled,
        ResultsCertified,
        ProtestReported,
        CrowdDispersed,
        BuildingStormed,
        PropertyDestroyed,
        DisasterStruck,
        CasualtiesReported,
        PersonDetained,
        PrisonerReleased,
        StatementIssued,
        BodyFormed,
        OfficialResigned,
        OfficialRemoved,
        OfficialAppointed,
        StateOfEmergencyDeclared,
        SecurityForcesDeployed,
        CommunicationsShutdown,
        ObserverFindingsPublished,
        ReportCorrected,
        ReportRetracted,
        VerificationChanged,
        EventsLinked,
    )
}


class UnknownEventType(ValueError):
    def __init__(self, name: object) -> None:
        super().__init__(f"unknown event type {name!r}; known types: {', '.join(sorted(EVENT_TYPES))}")
        self.name = name


def payload_class(name: object) -> type[EventPayload]:
    if not isinstance(name, str) or name not in EVENT_TYPES:
        raise UnknownEventType(name)
    return EVENT_TYPES[name]


def build_envelopes(*, decoding: bool = False) -> None:
    """Build every type's envelope classes now rather than on its first event: a first batch of many types spent a
    tenth of its time building them (1-3 ms a type). Ingest's: the classes of a submission and of the event it
    records; a reader of the stream's (`decoding`, the projector): the event's, and the validator `parse_event`
    reads its bytes with. Built before a service starts, they are frozen out of the collector's sight with the rest
    of what it loaded."""
    for payload in EVENT_TYPES.values():
        event = event_class(payload)
        if decoding:
            straight_validator(event)
        else:
            submission_class(payload)


def parse_payload(name: object, schema_version: int, data: Mapping[str, Any]) -> EventPayload:
    """A payload a read model stored at `schema_version`, read as the current version of its type: through the
    same upcasters as the stream's events; raises like `parse_event`."""
    cls = payload_class(name)
    envelope = upcast({"type": name, "schema_version": schema_version, "data": dict(data)}, cls.schema_version)
    return cls.model_validate(envelope["data"])


def parse_stored_payload(name: object, schema_version: int, data: str) -> EventPayload:
    """`parse_payload` of a payload stored as JSON text: validated straight from the text when it is at the current
    version (no upcaster to run), which skips building the dict only to validate it (an export reads one a row)."""
    cls = payload_class(name)
    if schema_version == cls.schema_version:
        return cls.model_validate_json(data)
    return parse_payload(name, schema_version, orjson.loads(data))


def parse_submission(raw: Mapping[str, Any]) -> EventSubmission[Any]:
    """Validate a client's report; raises UnknownEventType, CannotUpcast or pydantic.ValidationError. A report of
    an older version of its type, labelled with that `schema_version`, is brought to the current one."""
    cls = payload_class(raw.get("type"))
    current = upcast(raw, cls.schema_version) if "schema_version" in raw else raw
    return submission_class(cls).model_validate(current, context=NEW_SUBMISSION)


# How every writer here dumps an event: its type first. The type read from there is only a guess (the envelope's
# own after-validator checks that `type` names the payload); any other start takes the full path.
_TYPE_FIRST = b'{"type":"'


def _straight(raw: bytes) -> Event[Any] | None:
    """The event `raw` holds, validated straight from its bytes (see json_validation.py): what the full path would
    return, or None when the full path must decode it (another start, a type with a free-form value, an older or
    missing version, an invalid event)."""
    if not raw.startswith(_TYPE_FIRST):
        return None
    cls = EVENT_TYPES.get(raw[len(_TYPE_FIRST) : raw.find(b'"', len(_TYPE_FIRST))].decode(errors="replace"))
    validator = None if cls is None else straight_validator(event_class(cls))
    if validator is None:
        return None
    try:
        event: Event[Any] = validator.validate_json(raw)
    except ValueError:  # pydantic's ValidationError too
        return None
    return event if "schema_version" in event.model_fields_set else None


def parse_event(raw: Mapping[str, Any] | bytes | str) -> Event[Any]:
    """Decode an event from the stream, upcast to the current version of its type; raises UnknownEventType,
    CannotUpcast (a ValueError) or pydantic.ValidationError."""
    if isinstance(raw, bytes) and (event := _straight(raw)) is not None:
        return event
    if isinstance(raw, bytes | str):
        raw = orjson.loads(raw)  # a quarter of the standard library's time; its errors are ValueErrors too
        if not isinstance(raw, dict):
            raise ValueError("an event must be a JSON object")
    cls = payload_class(raw.get("type"))
    return event_class(cls).model_validate(upcast(raw, cls.schema_version))
