"""Casualty figures, each as its source gave it."""

from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from schemas.events.base import EventPayload, is_new_submission
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
    figures: list[CasualtyFigure] = Field(
        min_length=1,
        max_length=10,
        description="At most one figure per category: a range is one figure (min/max), with the source's words in "
        "`text`. Ingest refuses a report that gives a category twice.",
    )
    description: Text | None = None

    @field_validator("figures")
    @classmethod
    def _one_figure_per_category(cls, figures: list[CasualtyFigure], info: ValidationInfo) -> list[CasualtyFigure]:
        # New reports only: one stored before the rule stays readable (its view reads the last figure given).
        given = [figure.category.value for figure in figures]
        twice = sorted({category for category in given if given.count(category) > 1})
        if twice and is_new_submission(info):
            raise ValueError(
                f"category {', '.join(twice)} is given more than once; give one figure per category (a range as "
                "min/max, the source's words in text), or report the other figure separately"
            )
        return figures
