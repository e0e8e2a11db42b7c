"""The casualty figure rules: latest per source, corrections applied, range across sources, best supported."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.domain.casualties import FigureRow, casualty_figures

T0 = datetime(2020, 10, 6, tzinfo=UTC)


def row(
    source: str,
    kind: str,
    *,
    report: uuid.UUID | None = None,
    minute: int = 0,
    value: int | None = None,
    low: int | None = None,
    high: int | None = None,
    text: str | None = None,
    verification: str = "reported",
    category: str = "injured",
    group: str = "total",
) -> FigureRow:
    """A figure: exact (`value`), a range (`low`/`high`), or a vague `text` with the bounds `low`/`high` it implies."""
    event_id = uuid.uuid4()
    ranged = value is None and text is None
    return FigureRow(
        event_id=event_id,
        version_of=report or event_id,
        category=category,
        casualty_group=group,
        value=value,
        min=low if ranged else None,
        max=high if ranged else None,
        text=text,
        lower_bound=value if value is not None else low,
        upper_bound=value if value is not None else high,
        source={"name": source, "kind": kind},
        reason=None if report is None else "corrected",
        occurred_at=T0,
        reported_at=T0 + timedelta(minutes=minute),
        recorded_at=T0 + timedelta(minutes=minute),
        stream_seq=minute,
        verification=verification,
    )


def test_every_source_is_kept_side_by_side_with_the_range_across_them() -> None:
    [injured] = casualty_figures(
        [row("Government", "government", value=590), row("Wire", "media", text="hundreds", low=200, high=999)]
    )
    assert {s.source["name"]: s.latest.count.value if s.latest else None for s in injured.sources} == {
        "Government": 590,
        "Wire": None,
    }
    assert (injured.range.lower, injured.range.upper) == (200, 999)


def test_the_latest_report_of_a_source_is_its_figure_and_the_older_one_its_history() -> None:
    [injured] = casualty_figures(
        [row("Ministry", "government", value=100), row("Ministry", "government", minute=5, value=150)]
    )
    [ministry] = injured.sources
    assert ministry.latest is not None and ministry.latest.count.value == 150
    assert [f.count.value for f in ministry.history] == [100, 150]


def test_a_correction_replaces_the_values_and_keeps_the_versions() -> None:
    original = row("Ministry", "government", value=590)
    fix = row("Ministry", "government", report=original.event_id, minute=10, value=600)
    [injured] = casualty_figures([original, fix])
    figure = injured.sources[0].latest
    assert figure is not None and figure.count.value == 600
    assert [(v.count.value, v.corrected) for v in figure.versions] == [(590, False), (600, True)]


def test_an_open_ended_figure_leaves_the_range_open() -> None:
    [injured] = casualty_figures([row("Ministry", "government", value=5), row("Wire", "media", low=10)])
    assert (injured.range.lower, injured.range.upper) == (5, None)


def test_best_supported_prefers_verification_then_official_sources_then_precision() -> None:
    official = row("Ministry", "government", value=590)
    confirmed_media = row("Wire", "media", value=650, verification="confirmed")
    vague_official = row("Embassy", "state_body", text="hundreds", low=200, high=999)
    [only_reported] = casualty_figures([official, vague_official, row("Wire", "media", value=650)])
    assert only_reported.best_supported is not None
    assert only_reported.best_supported.figure.source["name"] == "Ministry"  # official and exact
    [with_confirmed] = casualty_figures([official, confirmed_media, vague_official])
    assert with_confirmed.best_supported is not None
    assert with_confirmed.best_supported.figure.source["name"] == "Wire"
    assert with_confirmed.best_supported.why.startswith("confirmed, from Wire (media), an exact figure")


def test_a_retracted_figure_stays_in_the_history_but_counts_for_nothing() -> None:
    [injured] = casualty_figures([row("Blog", "witness", value=5000, verification="retracted")])
    [blog] = injured.sources
    assert blog.latest is None and [f.verification for f in blog.history] == ["retracted"]
    assert injured.best_supported is None and (injured.range.lower, injured.range.upper) == (None, None)


def test_a_correction_that_drops_a_category_keeps_the_earlier_figure_as_corrected_away() -> None:
    killed = row("Ministry", "government", value=1, category="killed")
    injured = row("Ministry", "government", value=590)
    injured = injured.model_copy(update={"event_id": killed.event_id, "version_of": killed.event_id})
    fix = row("Ministry", "government", report=killed.event_id, minute=10, value=600)
    by_category = {c.category: c for c in casualty_figures([killed, injured, fix])}
    [ministry] = by_category["killed"].sources
    assert ministry.latest is None and by_category["killed"].best_supported is None
    [dropped] = ministry.history
    assert (dropped.count.value, dropped.corrected_away_by) == (1, fix.event_id)
    assert (by_category["killed"].range.lower, by_category["killed"].range.upper) == (None, None)
    assert by_category["injured"].sources[0].latest is not None
    assert by_category["injured"].sources[0].latest.count.value == 600


def test_figures_for_different_groups_never_compete_in_one_range() -> None:
    folded = casualty_figures(
        [
            row("Ministry", "government", value=5, category="killed", group="security_forces"),
            row("Rights group", "ngo", value=40, category="killed", group="protesters"),
            row("Wire", "media", value=45, category="killed"),
        ]
    )
    ranges = {(c.category, c.group): (c.range.lower, c.range.upper) for c in folded}
    assert ranges == {
        ("killed", "protesters"): (40, 40),
        ("killed", "security_forces"): (5, 5),
        ("killed", "total"): (45, 45),
    }
