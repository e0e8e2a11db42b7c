"""Statements and new political bodies."""

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import Name, Text


class StatementIssued(EventPayload):
    speaker: Name
    quote: Text
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$", description="ISO 639 code.")
    channel: Name | None = None


class CoordinationCouncilFormed(EventPayload):
    name: Name
    members: list[Name] = Field(default_factory=list, max_length=200)
    purpose: Text | None = None
