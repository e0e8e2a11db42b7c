"""One incident with tens of thousands of events, projected fast with the projector's own applier: the load that
stalled the query service (issue 10, item 6)."""

from __future__ import annotations

from typing import Any

import psycopg

from schemas.envelope import Event
from services.projector.applier import apply_batch
from services.projector.messages import StreamMessage
from services.projector.read_models import PROJECTIONS
from tests.factories import make_event, publish_args

BATCH = 1000
# What the heavy routes read: every event (export, map), the casualty figures (casualties, summary) and the
# incident as the projection holds it (compared with its fold `as_of` a time).
READ_MODELS = ("event_log", "casualties", "incidents")
SOURCES = 40
DESCRIPTION = "Protesters gathered on Ala-Too square and marched towards the White House; " * 4


def heavy_event(incident: str, i: int) -> Event[Any]:
    """Two located statements for every located casualty report, from one of SOURCES sources."""
    source = {"name": f"Wire {i % SOURCES}", "kind": ("media", "ngo", "government")[i % 3]}
    location = {"name": "Ala-Too square", "country": "KG", "lat": 42.8765, "lon": 74.6037}
    if i % 3 == 0:
        figures = [{"category": "injured", "count": {"value": i}}, {"category": "killed", "count": {"min": 1}}]
        event = make_event(incident, "CasualtiesReported", minute=i, figures=figures, description=DESCRIPTION)
    else:
        event = make_event(incident, minute=i, quote=DESCRIPTION)
    return type(event).model_validate({**event.model_dump(), "source": source, "location": location})


async def project_heavy_incident(database_url: str, incident: str, count: int) -> None:
    """`count` events of `incident` at stream sequences 1..count, applied to READ_MODELS."""

    async def contiguous(seq: int) -> int:  # every sequence is there: no event is ever deferred
        return seq

    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for start in range(0, count, BATCH):
            messages = []
            for i in range(start, min(start + BATCH, count)):
                args = publish_args(heavy_event(incident, i) if i else make_event(incident, "IncidentOpened"))
                messages.append(StreamMessage(i + 1, args["subject"], args["payload"], args["headers"]))
            await apply_batch(conn, [PROJECTIONS[name] for name in READ_MODELS], messages, contiguous)
