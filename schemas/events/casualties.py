"""Casualty figures, each as its source gave it."""

from enum import StrEnum

from pydantic import Field

from schemas.events.base import EventPayload
from schemas.values import Model, Quantity, Text


class CasualtyCategory(StrEnum):
    KILLED = "killed"
    INJURED = "injured"
    DETAINED = "detained"
    MISSING = "missing"


class CasualtyFigure(Model):
    category: CasualtyCategory
    count: Quantity


class CasualtiesReported(EventPayload):
    figures: list[CasualtyFigure] = Field(min_length=1, max_length=10)
    description: Text | None = None
