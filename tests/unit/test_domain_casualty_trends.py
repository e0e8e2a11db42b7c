"""Casualty figures per bucket: one toll's sources are alternatives (best supported and range), tolls add up."""

from __future__ import annotations

from services.domain.casualty_trends import bucket_figures
from tests.unit.test_domain_casualties import row


def test_sources_of_one_toll_are_never_added() -> None:
    toll = [row("Ministry", "government", value=1), row("Kloop", "ngo", value=3)]
    [killed] = bucket_figures([toll])
    assert (killed.best, killed.lower, killed.upper, killed.sources) == (1, 1, 3, 2)


def test_tolls_of_different_incidents_add_up() -> None:
    first = [row("Ministry", "government", value=1), row("Kloop", "ngo", value=3)]
    second = [row("Wire", "media", low=10, high=20)]
    [killed] = bucket_figures([first, second])
    assert (killed.best, killed.lower, killed.upper, killed.sources) == (1 + 10, 1 + 10, 3 + 20, 3)


def test_a_retracted_figure_counts_for_nothing() -> None:
    toll = [row("Ministry", "government", value=1), row("Rumour", "other", value=100, verification="retracted")]
    [killed] = bucket_figures([toll])
    assert (killed.best, killed.upper, killed.sources) == (1, 1, 1)
    assert bucket_figures([[row("Rumour", "other", value=100, verification="retracted")]]) == []


def test_an_open_ended_figure_leaves_the_upper_bound_open() -> None:
    [killed] = bucket_figures([[row("Ministry", "government", value=1)], [row("Wire", "media", low=5)]])
    assert (killed.best, killed.lower, killed.upper) == (6, 6, None)
