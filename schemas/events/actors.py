"""The actor registry: who an actor is, their other names, and their roles over time.

Any report may name an actor by `ActorRef`, which registers an unknown one; `ActorRegistered` adds what a mention
cannot carry: aliases and dated roles (Atambayev: president 2011-2017, later ex-president and prisoner).
"""

from pydantic import Field

from schemas.bounds import Day
from schemas.events.base import EventPayload
from schemas.upcasting import widened
from schemas.values import ActorRef, Model, Name


class Role(Model):
    title: Name
    start: Day | None = None
    end: Day | None = Field(default=None, description="Null while the role lasts, or when unknown.")


class ActorRegistered(EventPayload):
    schema_version = 2  # version 2: actors may be of kind `ngo`
    actor: ActorRef
    aliases: list[Name] = Field(default_factory=list, max_length=50)
    roles: list[Role] = Field(default_factory=list, max_length=50)


widened("ActorRegistered", from_version=1)  # actors of kind `ngo`
