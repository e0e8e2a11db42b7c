"""Casualty figures, each as its source gave it."""

from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from schemas.events.base import EventPayload, is_new_submission
from schemas.upcasting import upcaster
from schemas.values import Model, Quantity, Text


class CasualtyCategory(StrEnum):
    KILLED = "killed"
    INJURED = "injured"
    DETAINED = "detained"
    MISSING = "missing"


class CasualtyGroup(StrEnum):
    """Whom a figure counts, so that figures for different groups never compete in one range."""

    TOTAL = "total"  # everyone the source counted, or a figure that does not say whom
    CIVILIANS = "civilians"
    PROTESTERS = "protesters"
    SECURITY_FORCES = "security_forces"
    UNKNOWN = "unknown"  # people whose affiliation the source says is unknown


class CasualtyFigure(Model):
    category: CasualtyCategory
    group: CasualtyGroup = CasualtyGroup.TOTAL
    count: Quantity


class CasualtiesReported(EventPayload):
    """Version 2: each figure names the group it counts (`group`, total by default)."""

    schema_version = 2
    figures: list[CasualtyFigure] = Field(
        min_length=1,
        max_length=20,
        description="At most one figure per category and group: a range is one figure (min/max), with the source's "
        "words in `text`. Ingest refuses a report that gives a category and group twice.",
    )
    description: Text | None = None

    @field_validator("figures")
    @classmethod
    def _one_figure_per_category(cls, figures: list[CasualtyFigure], info: ValidationInfo) -> list[CasualtyFigure]:
        # New reports only: one stored before the rule stays readable (its view reads the last figure given).
        given = [f"{figure.category.value} ({figure.group.value})" for figure in figures]
        twice = sorted({category for category in given if given.count(category) > 1})
        if twice and is_new_submission(info):
            raise ValueError(
                f"category {', '.join(twice)} is given more than once; give one figure per category and group (a "
                "range as min/max, the source's words in text), or report the other figure separately"
            )
        return figures


@upcaster("CasualtiesReported", from_version=1)
def _figures_count_everyone(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 figure did not say whom it counted: the total. (Malformed data is left for validation to name.)"""
    figures = data.get("figures")
    if not isinstance(figures, list):
        return data
    total = CasualtyGroup.TOTAL.value
    return {**data, "figures": [{**f, "group": total} if isinstance(f, dict) else f for f in figures]}
