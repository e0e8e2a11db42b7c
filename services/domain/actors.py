"""The actor registry folded from mentions: a registration's name wins, other names become aliases, and roles
come from registrations (dated) and from mentions (the role a report gave, at the time it happened)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.events.actors import ActorRegistered, Role
from services.domain.reports import EventClass
from services.domain.utc import GivenOffsets


class MentionRow(GivenOffsets):
    event_id: UUID
    actor_id: str
    field: str
    incident_id: str
    event_type: EventClass
    name: str
    kind: str
    role: str | None
    aliases: list[str]
    roles: list[Role]
    occurred_at: datetime
    recorded_at: datetime
    stream_seq: int
    occurred_offset_min: int | None = None


class ActorRole(BaseModel):
    title: str
    start: date | None
    end: date | None
    event_id: UUID = Field(description="The registration or report that gave the role.")


class Mention(BaseModel):
    event_id: UUID
    incident_id: str
    event_type: str
    field: str = Field(description="Where in the payload the actor is named.")
    occurred_at: datetime


class Actor(BaseModel):
    actor_id: str
    name: str
    kind: str
    aliases: list[str]
    roles: list[ActorRole]
    incidents: list[str]
    mention_count: int
    mentions: list[Mention] | None = Field(default=None, description="Only when one actor is asked for.")


def actors(rows: Iterable[MentionRow], with_mentions: bool = False) -> list[Actor]:
    by_actor: dict[str, list[MentionRow]] = {}
    for row in sorted(rows, key=lambda r: r.stream_seq):
        by_actor.setdefault(row.actor_id, []).append(row)
    return [_actor(actor_id, history, with_mentions) for actor_id, history in sorted(by_actor.items())]


def _actor(actor_id: str, history: list[MentionRow], with_mentions: bool) -> Actor:
    registrations = [r for r in history if r.event_type is ActorRegistered]
    named = (registrations or history)[-1]
    aliases = dict.fromkeys(a for r in history for a in (*r.aliases, r.name) if a != named.name)
    # A dated role is (title, start, end): registering the actor again with it adds nothing; the first gave it.
    dated: dict[tuple[str, date | None, date | None], UUID] = {}
    for r in registrations:
        for role in r.roles:
            dated.setdefault((role.title, role.start, role.end), r.event_id)
    roles = [
        ActorRole(title=title, start=start, end=end, event_id=given_by)
        for (title, start, end), given_by in dated.items()
    ]
    roles += [
        ActorRole(title=r.role, start=r.occurred_at.date(), end=None, event_id=r.event_id)
        for r in history
        if r.role and r.role not in {role.title for role in roles}
    ]
    return Actor(
        actor_id=actor_id,
        name=named.name,
        kind=named.kind,
        aliases=list(aliases),
        roles=roles,
        incidents=sorted({r.incident_id for r in history}),
        mention_count=len({r.event_id for r in history}),
        mentions=[
            Mention(
                event_id=r.event_id,
                incident_id=r.incident_id,
                event_type=r.event_type.event_type(),
                field=r.field,
                occurred_at=r.occurred_at,
            )
            for r in history
        ]
        if with_mentions
        else None,
    )
