"""Casualty figures side by side: the latest figure per source with its history, the range across sources, and
the best supported figure by a documented rule. Contradictory figures are kept, never averaged or dropped.

The best supported figure is the one that ranks first by, in order:
1. verification: confirmed > corroborated > reported > disputed (retracted figures never count);
2. source: official (government, state body) > international organisation > NGO or media > party, witness, other;
3. precision: an exact count > a range > a vague word ("hundreds");
4. the most recent report (reported_at, else occurred_at), then the last recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from schemas import vocabulary
from services.domain.reports import latest_versions, stands
from services.domain.utc import GivenOffsets

VERIFICATION_RANK = {"confirmed": 3, "corroborated": 2, "reported": 1, "disputed": 0}
SOURCE_RANK = {"government": 3, "state_body": 3, "international_org": 2, "ngo": 1, "media": 1}


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
    bounds: Literal["known", "open", "unknown"] = Field(
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

    def counts(self) -> bool:
        """Whether the figure is still claimed: neither retracted nor corrected away."""
        return stands(self.verification) and self.corrected_away_by is None


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


# (category, group): figures of different groups (protesters, security forces) never compete in one range.
Kind = tuple[str, str]


def casualty_figures(rows: Iterable[FigureRow]) -> list[CategoryFigures]:
    """Rows of every version visible at the query's `as_of`, folded per category, group and source."""
    figures = _current_figures(rows)
    by_kind: dict[Kind, list[Figure]] = defaultdict(list)
    for kind, figure in figures:
        by_kind[kind].append(figure)
    return [_category(kind, by_kind[kind]) for kind in sorted(by_kind)]


def _current_figures(rows: Iterable[FigureRow]) -> list[tuple[Kind, Figure]]:
    """One Figure per (report, category, group): the original's source and times, the latest version's count."""
    rows = sorted(rows, key=lambda r: (r.recorded_at, r.stream_seq))
    versions: dict[tuple[UUID, str, str], list[FigureRow]] = defaultdict(list)
    for row in rows:
        versions[(row.version_of, row.category, row.casualty_group)].append(row)
    # A correction replaces the whole report: a category it leaves out is no longer claimed by the report, but
    # its earlier figure stays in the source's history, marked by the correction that dropped it.
    current = {report_id: row.event_id for report_id, row in latest_versions(rows).items()}
    result = []
    for (report_id, category, group), history in versions.items():
        dropped_by = None if history[-1].event_id == current[report_id] else current[report_id]
        original = next((r for r in history if r.event_id == report_id), history[0])
        versions_of = [
            Version(
                event_id=r.event_id, count=_count(r), corrected=r.event_id != report_id, reason=r.reason,
                recorded_at=r.recorded_at,
            )
            for r in history
        ]  # fmt: skip
        result.append(
            (
                (category, group),
                Figure(
                    report_id=report_id,
                    source=original.source,
                    count=versions_of[-1].count,
                    verification=history[-1].verification,
                    occurred_at=original.occurred_at,
                    reported_at=original.reported_at,
                    versions=versions_of,
                    corrected_away_by=dropped_by,
                ),
            )
        )
    return result


def _count(row: FigureRow) -> Count:
    reading = None if row.text is None else vocabulary.read(row.text)
    return Count(
        value=row.value,
        min=row.min,
        max=row.max,
        text=row.text,
        lower=row.lower_bound,
        upper=row.upper_bound,
        bounds=_bounds(row.lower_bound, row.upper_bound),
        approximate=reading is not None and reading.approximate,
    )


def _bounds(lower: int | None, upper: int | None) -> Literal["known", "open", "unknown"]:
    if lower is None and upper is None:
        return "unknown"  # only words outside the vocabulary leave both out: a range gives one, a value both
    return "open" if upper is None else "known"


def _category(kind: Kind, figures: list[Figure]) -> CategoryFigures:
    by_source: dict[str, list[Figure]] = defaultdict(list)
    for figure in sorted(figures, key=_recency):
        by_source[figure.source["name"]].append(figure)
    sources = [
        SourceFigures(
            source=history[0].source,
            latest=next((f for f in reversed(history) if f.counts()), None),
            history=history,
        )
        for _, history in sorted(by_source.items())
    ]
    latest = [s.latest for s in sources if s.latest is not None]
    category, group = kind
    return CategoryFigures(
        category=category, group=group, range=_range(latest), best_supported=best_supported(latest), sources=sources
    )


def _recency(figure: Figure) -> tuple[datetime, datetime]:
    return figure.reported_at or figure.occurred_at, figure.versions[0].recorded_at


def _range(figures: list[Figure]) -> Range:
    known = [f for f in figures if f.count.bounds != "unknown"]
    lowers = [f.count.lower for f in known if f.count.lower is not None]
    uppers = [f.count.upper for f in known]
    return Range(
        lower=min(lowers) if lowers else None,
        upper=None if not uppers or None in uppers else max(u for u in uppers if u is not None),
        unknown_bounds=[f.report_id for f in figures if f.count.bounds == "unknown"],
    )


def _precision(count: Count) -> int:
    if count.value is not None:
        return 2
    return 1 if count.min is not None or count.max is not None else 0


def best_supported(figures: list[Figure]) -> BestSupported | None:
    """The figure that ranks first by the module's rule, and why; None when no source has a standing figure."""
    candidates = [f for f in figures if f.counts()]
    if not candidates:
        return None

    def rank(f: Figure) -> tuple[int, int, int, datetime, datetime]:
        kind = f.source.get("kind", "other")
        return (VERIFICATION_RANK.get(f.verification, 0), SOURCE_RANK.get(kind, 0), _precision(f.count), *_recency(f))

    best = max(candidates, key=rank)
    precision = ("a vague figure", "a range", "an exact figure")[_precision(best.count)]
    why = f"{best.verification}, from {best.source['name']} ({best.source.get('kind')}), {precision}"
    if len(candidates) > 1:
        why += f"; ranked first of {len(candidates)} sources by verification, source kind, precision, recency"
    return BestSupported(figure=best, why=why)
