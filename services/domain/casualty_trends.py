"""Casualty figures over time: per bucket and category, a total that never adds two sources' claims about the same
toll, with the range that sources' figures allow.

A toll is one incident's figure for one category within one bucket. Its sources' figures are alternatives, folded
by the same rule as an incident's casualties (services/domain/casualty_rule.py, on the rows as they come: no model
per figure): corrections applied, retracted reports left out, the best supported figure chosen, the range from the
lowest lower bound to the highest upper bound.
Different tolls (other incidents) add up: the bucket's `best` is the sum of each toll's best supported figure (its
exact value, else its lower bound), `lower` and `upper` the sums of the tolls' ranges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from services.domain.casualty_rule import FigureFields, fold


class TrendFigure(BaseModel):
    category: str
    group: str = Field(description="Whom the figures count (total, civilians, ...): groups never add up.")
    best: int = Field(description="Sum over tolls (incidents) of each toll's best supported figure.")
    lower: int = Field(description="Sum over tolls of the lowest lower bound a source gives.")
    upper: int | None = Field(description="Sum over tolls of the highest upper bound; null when one is open-ended.")
    sources: int = Field(description="Per toll, the sources with a standing figure; summed over tolls.")


def bucket_figures(tolls: Iterable[Iterable[FigureFields]]) -> list[TrendFigure]:
    """One bucket's figures per category and group; each item of `tolls` holds every version of one incident's
    reports."""
    totals: dict[tuple[str, str], _Sums] = {}
    for rows in tolls:
        for folded in fold(rows):
            if folded.best is None:
                continue  # every report of this toll is retracted
            best = folded.best.current
            total = totals.setdefault(folded.kind, _Sums())
            total.best += best.value if best.value is not None else best.lower_bound or 0
            total.lower += folded.lower or 0
            total.upper = None if total.upper is None or folded.upper is None else total.upper + folded.upper
            total.sources += folded.candidates
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
