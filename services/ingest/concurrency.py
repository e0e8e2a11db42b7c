"""Optimistic concurrency per incident: the writer says which position of the incident it last saw.

An incident's position is the stream sequence of its last event (0 before its first). The expectation comes as
`If-Match: <position>` (an ETag, quoted or not) or as the body's `expected_position`; when the incident has moved
on, JetStream refuses the publish and the writer gets 409 with the current position. A write without an
expectation is not checked.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from schemas.envelope import MAX_POSITION
from services.common.http import error_body, first_header
from services.ingest.bodies import invalid
from services.ingest.errors import IncidentMoved

IF_MATCH = "If-Match"


def incident_moved(moved: IncidentMoved) -> HTTPException:
    """409 with the incident's current position, so the writer can read it again and retry."""
    return HTTPException(
        409,
        detail=error_body(
            f"incident {moved.incident_id!r} is at position {moved.current}, not {moved.expected}: nothing was "
            "published; read it again and retry with its current position"
        )
        | {"incident_id": moved.incident_id, "expected_position": moved.expected, "current_position": moved.current},
    )


def expected_position(request: Request, from_body: int | None) -> int | None:
    """The expectation from If-Match or the body (both: they must agree); None for an unchecked write."""
    given = first_header(request.scope, IF_MATCH)
    if given is None:
        return from_body
    value = given.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_POSITION:
        msg = 'want the incident position the writer last saw, e.g. If-Match: "42"'
        raise invalid("invalid header", [{"loc": ["header", IF_MATCH], "msg": msg, "type": "position"}])
    if from_body is not None and from_body != int(value):
        msg = f"If-Match says {value} but expected_position says {from_body}"
        raise invalid("conflicting expectations", [{"loc": ["header", IF_MATCH], "msg": msg, "type": "position"}])
    return int(value)


def single_incident(incident_ids: list[str]) -> None:
    """A batch that carries an expectation concerns one incident (the expectation is that incident's position)."""
    if len(set(incident_ids)) > 1:
        raise invalid(
            "an expected position applies to one incident",
            [
                {
                    "loc": ["body", "events"],
                    "msg": f"this batch spans incidents {sorted(set(incident_ids))}; send one batch per incident",
                    "type": "several_incidents",
                }
            ],
        )
