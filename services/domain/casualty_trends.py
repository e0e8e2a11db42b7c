"""Casualty figures over time: per bucket and category, a total that never adds two sources' claims about the same
toll, with the range that sources' figures allow.

A toll is one incident's figure for one category within one bucket. Its sources' figures are alternatives, folded
by the same rule as an incident's casualties (services/domain/casualties.py): corrections applied, retracted reports
left out, the best supported figure chosen, the range from the lowest lower bound to the highest upper bound.
Different tolls (other incidents) add up: the bucket's `best` is the sum of each toll's best supported figure (its
exact value, else its lower bound), `lower` and `upper` the sums of the tolls' ranges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from services.domain.casualties import FigureRow, casualty_figures


class TrendFigure(BaseModel):
    category: str
    group: str = Field(description="Whom the figures count (total, civilians, ...): groups never add up.")
    best: int = Field(description="Sum over tolls (incidents) of each toll's best supported figure.")
    lower: int = Field(description="Sum over tolls of the lowest lower bound a source gives.")
    upper: int | None = Field(description="Sum over tolls of the highest upper bound; null when one is open-ended.")
    sources: int = Field(description="Per toll, the sources with a standing figure; summed over tolls.")


def bucket_figures(tolls: Iterable[list[FigureRow]]) -> list[TrendFigure]:
    """One bucket's figures per category and group; each item of `tolls` holds every version of one incident's
    reports."""
    totals: dict[tuple[str, str], _Sums] = {}
    for rows in tolls:
        for folded in casualty_figures(rows):
            if folded.best_supported is None:
                continue  # every report of this toll is retracted
            best = folded.best_supported.figure.count
            total = totals.setdefault((folded.category, folded.group), _Sums())
            total.best += best.value if best.value is not None else best.lower or 0
            total.lower += folded.range.lower or 0
            total.upper = (
                None if total.upper is None or folded.range.upper is None else total.upper + folded.range.upper
            )
            total.sources += sum(1 for source in folded.sources if source.latest is not None)
    return [
        TrendFigure(category=category, group=group, **vars(sums)) for (category, group), sums in sorted(totals.items())
    ]


@dataclass
class _Sums:
    """A bucket's running sums for one category and group (plain attributes: a model's __setattr__ ran on every +=)."""

    best: int = 0
    lower: int = 0
    upper: int | None = 0  # None: some toll is open-ended
    sources: int = 0
