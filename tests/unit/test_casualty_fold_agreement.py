"""Trends fold plain rows with the casualty rule and build no models; an incident's casualties answer builds its
models from the same fold. On a varied selection (corrections, one that drops a category, retractions, ranges,
open-ended and vague figures, ties, several sources, categories and groups), each bucket's trend figures are the
sums of what the casualties answer says of each toll, computed as trends computed them before the plain fold."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.domain.casualties import FigureRow, casualty_figures
from services.domain.casualty_trends import TrendFigure, bucket_figures

T0 = datetime(2020, 10, 5, tzinfo=UTC)
SOURCES = [("Ministry", "government"), ("Commission", "state_body"), ("OSCE", "international_org")]
SOURCES += [("Kloop", "ngo"), ("Wire", "media"), ("Witness", "witness"), ("Party", "party")]
VERIFICATIONS = ["reported", "reported", "confirmed", "corroborated", "disputed", "retracted"]
KINDS = [("killed", "total"), ("injured", "total"), ("killed", "protesters"), ("injured", "security_forces")]


def counts(rng: random.Random) -> dict[str, Any]:
    """A count as the projector stores it: its columns, with the bounds it implies."""
    n = rng.choice([1, 3, 5, 40, 200])  # few values: ties in value, bounds and rank
    shapes: list[dict[str, Any]] = [
        {"value": n, "lower_bound": n, "upper_bound": n},
        {"min": n, "max": n * 2, "lower_bound": n, "upper_bound": n * 2},
        {"min": n, "lower_bound": n},  # open-ended: more than n
        {"text": "hundreds", "lower_bound": 200, "upper_bound": 999},
        {"text": "about 40", "lower_bound": 36, "upper_bound": 44},
        {"text": "a great many"},  # outside the vocabulary: unknown bounds
    ]
    return {"value": None, "min": None, "max": None, "text": None, "lower_bound": None, "upper_bound": None,
            **rng.choice(shapes)}  # fmt: skip


def toll(rng: random.Random) -> list[FigureRow]:
    """Every version of one incident's casualty reports."""
    rows: list[FigureRow] = []
    seq = 0
    for _ in range(rng.randint(1, 6)):
        report = uuid.UUID(int=rng.getrandbits(128))
        name, kind = rng.choice(SOURCES)
        occurred = T0 + timedelta(hours=rng.choice([0, 1, 2]))
        reported = rng.choice([None, occurred, occurred + timedelta(hours=3)])
        verification = rng.choice(VERIFICATIONS)
        kinds = rng.sample(KINDS, rng.randint(1, 3))
        versions = [(report, kinds)]
        for _ in range(rng.choice([0, 0, 1, 2])):  # corrections, the first sometimes dropping a kind
            versions.append((uuid.UUID(int=rng.getrandbits(128)), kinds[: rng.randint(1, len(kinds))]))
        for event_id, of_kinds in versions:
            seq += 1
            recorded = T0 + timedelta(days=1, minutes=rng.choice([seq, seq, 0]))  # some recorded at the same time
            for category, group in of_kinds:
                rows.append(
                    FigureRow(
                        event_id=event_id, version_of=report, category=category, casualty_group=group,
                        **counts(rng), source={"name": name, "kind": kind},
                        reason=None if event_id == report else "corrected", occurred_at=occurred,
                        reported_at=reported, recorded_at=recorded, stream_seq=seq, verification=verification,
                    )
                )  # fmt: skip
    rng.shuffle(rows)
    return rows


@dataclass
class Sums:
    best: int = 0
    lower: int = 0
    upper: int | None = 0
    sources: int = 0


def summed_answers(tolls: list[list[FigureRow]]) -> list[TrendFigure]:
    """What trends computed before the plain fold: per kind, the sums over tolls of the casualties answer's best
    supported figure, range and standing sources."""
    totals: dict[tuple[str, str], Sums] = {}
    for rows in tolls:
        for answer in casualty_figures(rows):
            if answer.best_supported is None:
                continue
            best = answer.best_supported.figure.count
            total = totals.setdefault((answer.category, answer.group), Sums())
            total.best += best.value if best.value is not None else best.lower or 0
            total.lower += answer.range.lower or 0
            total.upper = (
                None if total.upper is None or answer.range.upper is None else total.upper + answer.range.upper
            )
            total.sources += sum(1 for source in answer.sources if source.latest is not None)
    return [TrendFigure(category=c, group=g, **vars(sums)) for (c, g), sums in sorted(totals.items())]


def buckets() -> Iterator[list[list[FigureRow]]]:
    rng = random.Random(13)
    for _ in range(400):
        yield [toll(rng) for _ in range(rng.randint(1, 4))]


def test_trend_figures_are_the_sums_of_each_tolls_casualties_answer() -> None:
    compared = 0
    for tolls in buckets():
        assert bucket_figures(tolls) == summed_answers(tolls)
        compared += sum(len(rows) for rows in tolls)
    assert compared > 2000


def test_the_selection_is_varied() -> None:
    """The comparison above meets every case it is meant to: without them it would prove little."""
    rows = [row for tolls in buckets() for rows in tolls for row in rows]
    answers = [answer for tolls in buckets() for rows in tolls for answer in casualty_figures(rows)]
    figures = [figure for answer in answers for source in answer.sources for figure in source.history]
    assert any(figure.corrected_away_by is not None for figure in figures)
    assert any(len(figure.versions) > 1 and figure.corrected_away_by is None for figure in figures)
    assert any(answer.best_supported is None for answer in answers)  # every figure retracted or dropped
    assert any(answer.range.upper is None and answer.range.lower is not None for answer in answers)  # open-ended
    assert any(answer.range.unknown_bounds for answer in answers)
    assert any(len(answer.sources) > 2 for answer in answers)
    assert {row.casualty_group for row in rows} == {"total", "protesters", "security_forces"}
    assert {row.verification for row in rows} == set(VERIFICATIONS)
