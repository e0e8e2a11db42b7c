"""Figures in words: kept verbatim, read through the published vocabulary, unknown when outside it."""

from __future__ import annotations

import pytest

from schemas import vocabulary
from schemas.bounds import MAX_COUNT
from schemas.events.casualties import CasualtiesReported
from schemas.values import Quantity


@pytest.mark.parametrize(
    ("words", "lower", "upper", "approximate"),
    [
        ("Hundreds", 200, 999, False),
        ("  tens   of THOUSANDS ", 20000, 99999, False),
        ("more than 200", 201, None, False),
        ("Over 3 000", 3001, None, False),
        ("at least 10", 10, None, False),
        ("up to 50", 0, 50, False),
        ("about 1,200", 1080, 1320, True),
        ("nearly 100", 90, 100, False),
        ("сотни", 200, 999, False),
        ("более 1 200", 1201, None, False),
        ("около 1 200", 1080, 1320, True),
        ("жүздөгөн", 200, 999, False),
        ("200-дөн ашык", 201, None, False),
        ("кеминде 5", 5, None, False),
    ],
)
def test_the_vocabulary_reads_vague_words_and_comparatives(
    words: str, lower: int, upper: int | None, approximate: bool
) -> None:
    assert vocabulary.read(words) == vocabulary.Reading(lower, upper, approximate)


@pytest.mark.parametrize("words", ["many", "more than hundreds", "200 or so", "about"])
def test_words_outside_the_vocabulary_have_unknown_bounds_never_an_open_range(words: str) -> None:
    assert vocabulary.read(words) is None
    assert Quantity(text=words).bounds == (None, None)


def test_a_number_past_the_largest_count_is_read_capped() -> None:
    reading = vocabulary.read(f"more than {10 * MAX_COUNT}")
    assert reading is not None and reading.lower == MAX_COUNT


def test_the_words_are_kept_verbatim_and_only_the_lookup_is_normalised() -> None:
    quantity = Quantity(text="More than 200")
    assert (quantity.text, quantity.bounds) == ("More than 200", (201, None))


def test_the_json_schema_publishes_the_vocabulary_with_its_bounds() -> None:
    text = CasualtiesReported.model_json_schema()["$defs"]["Quantity"]["properties"]["text"]
    assert text["x-vocabulary"]["vague_words"]["hundreds"] == {"lower": 200, "upper": 999}
    assert any("about {n}" in c["phrases"] for c in text["x-vocabulary"]["comparatives"])
    assert "unknown" in text["description"]
