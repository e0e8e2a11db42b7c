"""The casualty figure rule, on plain rows: each report's current figures, per category and group the latest
figure of each source, the range across sources, and the best supported figure. Contradictory figures are kept,
never averaged or dropped.

The best supported figure is the one that ranks first by, in order:
1. verification: confirmed > corroborated > reported > disputed (retracted figures never count);
2. source: official (government, state body) > international organisation > NGO or media > party, witness, other;
3. precision: an exact count > a range > a vague word ("hundreds");
4. the most recent report (reported_at, else occurred_at), then the last recorded.

The fold builds no models: an incident's casualties (services/domain/casualties.py) turn its result into the
answer's models, trends (services/domain/casualty_trends.py) only sum it. Built per figure and version, the models
were most of a trends request's time (about 40 µs a report).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar
from uuid import UUID

from services.domain.reports import RECORDED, Versioned, latest_versions, stands

VERIFICATION_RANK = {"confirmed": 3, "corroborated": 2, "reported": 1, "disputed": 0}
SOURCE_RANK = {"government": 3, "state_body": 3, "international_org": 2, "ngo": 1, "media": 1}
PRECISION = ("a vague figure", "a range", "an exact figure")

Bounds = Literal["known", "open", "unknown"]

# (category, group): figures of different groups (protesters, security forces) never compete in one range.
Kind = tuple[str, str]


class FigureFields(Versioned, Protocol):
    """One figure of one version of a report, with its report's verification as of the query: what the rule reads
    of a row (a validated FigureRow, or a plain row straight from the database)."""

    @property
    def event_id(self) -> UUID: ...
    @property
    def category(self) -> str: ...
    @property
    def casualty_group(self) -> str: ...
    @property
    def value(self) -> int | None: ...
    @property
    def min(self) -> int | None: ...
    @property
    def max(self) -> int | None: ...
    @property
    def lower_bound(self) -> int | None: ...
    @property
    def upper_bound(self) -> int | None: ...
    @property
    def source(self) -> dict[str, Any]: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def reported_at(self) -> datetime | None: ...


F = TypeVar("F", bound=FigureFields)


@dataclass(slots=True)
class ReportFigure(Generic[F]):
    """One report's figure for one kind: its versions' rows, oldest first; the last, current, gives its count."""

    report_id: UUID
    original: F  # the report as first recorded: its source and times
    versions: list[F]
    current: F  # versions[-1], read by every step of the fold
    corrected_away_by: UUID | None  # the correction that left this kind out of the report

    def counts(self) -> bool:
        """Whether the figure is still claimed: neither retracted nor corrected away."""
        return stands(self.current.verification) and self.corrected_away_by is None

    def recency(self) -> tuple[datetime, datetime]:
        return self.original.reported_at or self.original.occurred_at, self.versions[0].recorded_at

    def precision(self) -> int:
        """2: an exact count, 1: a range, 0: a vague word (an index of PRECISION)."""
        current = self.current
        if current.value is not None:
            return 2
        return 1 if current.min is not None or current.max is not None else 0

    def bounds(self) -> Bounds:
        return bounds(self.current.lower_bound, self.current.upper_bound)

    def rank(self) -> tuple[int, int, int, datetime, datetime]:
        kind = self.original.source.get("kind", "other")
        verification = VERIFICATION_RANK.get(self.current.verification, 0)
        return verification, SOURCE_RANK.get(kind, 0), self.precision(), *self.recency()


@dataclass(slots=True)
class SourceHistory(Generic[F]):
    history: list[ReportFigure[F]]  # oldest first
    latest: ReportFigure[F] | None  # the latest that still counts


@dataclass(slots=True)
class KindFigures(Generic[F]):
    """One kind's figures folded: every source's, the range across their latest, the best supported of them."""

    kind: Kind
    sources: list[SourceHistory[F]]  # by source name
    lower: int | None
    upper: int | None  # None: some source's figure is open-ended, or no bound is known
    unknown_bounds: list[ReportFigure[F]]  # figures in words outside the vocabulary: the range leaves them out
    best: ReportFigure[F] | None  # None: no source has a standing figure
    candidates: int  # the sources' standing figures the best was chosen from


def bounds(lower: int | None, upper: int | None) -> Bounds:
    """unknown: words outside the vocabulary; open: no upper bound (more than 200)."""
    if lower is None and upper is None:
        return "unknown"  # only words outside the vocabulary leave both out: a range gives one, a value both
    return "open" if upper is None else "known"


def fold(rows: Iterable[F]) -> list[KindFigures[F]]:
    """Rows of every version visible at the query's `as_of`, folded per kind (in order) and source."""
    by_kind: dict[Kind, list[ReportFigure[F]]] = defaultdict(list)
    for kind, figure in _report_figures(rows):
        by_kind[kind].append(figure)
    return [_kind_figures(kind, by_kind[kind]) for kind in sorted(by_kind)]


def _report_figures(rows: Iterable[F]) -> list[tuple[Kind, ReportFigure[F]]]:
    """One figure per (report, category, group): the original's source and times, the latest version's count."""
    rows = sorted(rows, key=RECORDED)
    versions: dict[tuple[UUID, str, str], list[F]] = defaultdict(list)
    for row in rows:
        versions[(row.version_of, row.category, row.casualty_group)].append(row)
    # A correction replaces the whole report: a category it leaves out is no longer claimed by the report, but
    # its earlier figure stays in the source's history, marked by the correction that dropped it.
    current = {report_id: row.event_id for report_id, row in latest_versions(rows).items()}
    result = []
    for (report_id, category, group), history in versions.items():
        dropped_by = None if history[-1].event_id == current[report_id] else current[report_id]
        original = next((r for r in history if r.event_id == report_id), history[0])
        result.append(((category, group), ReportFigure(report_id, original, history, history[-1], dropped_by)))
    return result


def _kind_figures(kind: Kind, figures: list[ReportFigure[F]]) -> KindFigures[F]:
    by_source: dict[str, list[ReportFigure[F]]] = defaultdict(list)
    for figure in sorted(figures, key=ReportFigure.recency):
        by_source[figure.original.source["name"]].append(figure)
    sources = [
        SourceHistory(history, next((f for f in reversed(history) if f.counts()), None))
        for _, history in sorted(by_source.items())
    ]
    latest = [s.latest for s in sources if s.latest is not None]  # each still counts: the best's candidates
    known: list[F] = []
    unknown: list[ReportFigure[F]] = []
    for figure in latest:
        if figure.bounds() == "unknown":
            unknown.append(figure)
        else:
            known.append(figure.current)
    lowers = [row.lower_bound for row in known if row.lower_bound is not None]
    uppers = [row.upper_bound for row in known]
    return KindFigures(
        kind=kind,
        sources=sources,
        lower=min(lowers) if lowers else None,
        upper=None if not uppers or None in uppers else max(u for u in uppers if u is not None),
        unknown_bounds=unknown,
        best=max(latest, key=ReportFigure.rank) if latest else None,
        candidates=len(latest),
    )


def why_best(figures: KindFigures[Any]) -> str:
    """Why the best supported figure ranks first, in words."""
    best = figures.best
    assert best is not None
    source = best.original.source
    why = f"{best.current.verification}, from {source['name']} ({source.get('kind')}), {PRECISION[best.precision()]}"
    if figures.candidates > 1:
        why += f"; ranked first of {figures.candidates} sources by verification, source kind, precision, recency"
    return why
