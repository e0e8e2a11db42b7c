"""Casualty figures side by side, as an incident's answer gives them: the latest figure per source with its
history, the range across sources, and the best supported figure. The rule that decides is
services/domain/casualty_rule.py; this module builds its result into the answer's models.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from schemas import vocabulary
from services.domain.casualty_rule import Bounds, KindFigures, ReportFigure, bounds, fold, why_best
from services.domain.utc import GivenOffsets


class FigureRow(GivenOffsets):
    """One figure of one version of a report, as the read model holds it, with its verification as of the query."""

    event_id: UUID
    version_of: UUID
    category: str
    casualty_group: str = "total"
    value: int | None
    min: int | None
    max: int | None
    text: str | None
    lower_bound: int | None
    upper_bound: int | None
    source: dict[str, Any]
    reason: str | None
    occurred_at: datetime
    reported_at: datetime | None
    recorded_at: datetime
    stream_seq: int
    verification: str
    occurred_offset_min: int | None = None
    reported_offset_min: int | None = None


class Count(BaseModel):
    value: int | None
    min: int | None
    max: int | None
    text: str | None = Field(description="The source's words, verbatim, e.g. Hundreds, more than 200.")
    lower: int | None = Field(description="The lower bound the figure implies; null when unknown.")
    upper: int | None = Field(description="The upper bound the figure implies; null when open-ended or unknown.")
    bounds: Bounds = Field(
        description="open: no upper bound (more than 200); unknown: words outside the vocabulary, no min/max given."
    )
    approximate: bool = Field(description="The source gave the figure as an approximation (about N).")


class Version(BaseModel):
    event_id: UUID = Field(description="The report, or the ReportCorrected that gave these values.")
    count: Count
    corrected: bool
    reason: str | None = Field(description="Why a correction changed the figure.")
    recorded_at: datetime


class Figure(BaseModel):
    report_id: UUID = Field(description="The CasualtiesReported event.")
    source: dict[str, Any] = Field(description="Who reported it.")
    count: Count = Field(description="The current value, corrections applied.")
    verification: str
    occurred_at: datetime
    reported_at: datetime | None
    versions: list[Version] = Field(description="The report as first recorded, then each correction, in order.")
    corrected_away_by: UUID | None = Field(
        default=None,
        description="The correction that left this category out of the report: the figure no longer counts, and "
        "`count` is the last one the report gave.",
    )


class SourceFigures(BaseModel):
    source: dict[str, Any]
    latest: Figure | None = Field(
        description="The source's latest figure that is neither retracted nor corrected away."
    )
    history: list[Figure] = Field(description="Every figure of the source for this category, oldest first.")


class BestSupported(BaseModel):
    figure: Figure
    why: str


class Range(BaseModel):
    lower: int | None
    upper: int | None = Field(description="Null when some source's figure is open-ended.")
    unknown_bounds: list[UUID] = Field(
        default_factory=list,
        description="Reports whose figure is in words outside the vocabulary: the range leaves them out.",
    )


class CategoryFigures(BaseModel):
    category: str
    group: str = Field(description="Whom the figures count: total, civilians, protesters, security_forces, unknown.")
    range: Range = Field(description="From the lowest lower bound to the highest upper bound of the sources' latest.")
    best_supported: BestSupported | None
    sources: list[SourceFigures]


def casualty_figures(rows: Iterable[FigureRow]) -> list[CategoryFigures]:
    """Rows of every version visible at the query's `as_of`, folded per category, group and source."""
    return [_category(folded) for folded in fold(rows)]


def _category(folded: KindFigures[FigureRow]) -> CategoryFigures:
    # one model per report figure (each source's latest and the best are in some history), as cited in several places
    models = {id(figure): _figure(figure) for source in folded.sources for figure in source.history}
    category, group = folded.kind
    return CategoryFigures(
        category=category,
        group=group,
        range=Range(
            lower=folded.lower, upper=folded.upper, unknown_bounds=[f.report_id for f in folded.unknown_bounds]
        ),
        best_supported=None
        if folded.best is None
        else BestSupported(figure=models[id(folded.best)], why=why_best(folded)),
        sources=[
            SourceFigures(
                source=source.history[0].original.source,
                latest=None if source.latest is None else models[id(source.latest)],
                history=[models[id(f)] for f in source.history],
            )
            for source in folded.sources
        ],
    )


def _figure(figure: ReportFigure[FigureRow]) -> Figure:
    versions = [
        Version(
            event_id=r.event_id, count=count_of(r), corrected=r.event_id != figure.report_id, reason=r.reason,
            recorded_at=r.recorded_at,
        )
        for r in figure.versions
    ]  # fmt: skip
    return Figure(
        report_id=figure.report_id,
        source=figure.original.source,
        count=versions[-1].count,
        verification=figure.current.verification,
        occurred_at=figure.original.occurred_at,
        reported_at=figure.original.reported_at,
        versions=versions,
        corrected_away_by=figure.corrected_away_by,
    )


def count_of(row: FigureRow) -> Count:
    """A version's count as the answers give it."""
    reading = None if row.text is None else vocabulary.read(row.text)
    return Count(
        value=row.value,
        min=row.min,
        max=row.max,
        text=row.text,
        lower=row.lower_bound,
        upper=row.upper_bound,
        bounds=bounds(row.lower_bound, row.upper_bound),
        approximate=reading is not None and reading.approximate,
    )
