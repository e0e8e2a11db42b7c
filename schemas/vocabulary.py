"""The expressions a figure may be given in words, and the bounds each implies.

A report keeps the source's words verbatim (`Quantity.text`); this vocabulary reads them, case- and
spacing-insensitively, into bounds for the casualty views. Vague words ("hundreds", "сотни", "жүздөгөн") and
comparative forms around a number ("more than 200", "около 1 200", "200дөн ашык") are recognised in English,
Russian and Kyrgyz, the languages of the demo's crises. Words it does not recognise read as unknown bounds, never
as an open range. The vocabulary is published in the JSON Schema of `Quantity.text`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from pydantic import JsonValue

from schemas.bounds import MAX_COUNT

# Bounds implied by the vague words reports use, per language.
VAGUE_WORDS: dict[str, tuple[int, int]] = {
    "a few": (2, 9),
    "several": (3, 9),
    "dozens": (24, 99),
    "scores": (40, 99),
    "hundreds": (200, 999),
    "thousands": (2000, 9999),
    "tens of thousands": (20000, 99999),
    "несколько": (3, 9),
    "десятки": (20, 99),
    "сотни": (200, 999),
    "тысячи": (2000, 9999),
    "десятки тысяч": (20000, 99999),
    "бир нече": (3, 9),
    "ондогон": (20, 99),
    "жүздөгөн": (200, 999),
    "миңдеген": (2000, 9999),
    "ондогон миңдеген": (20000, 99999),
}

# "about N" is taken to mean within 10% of N either way, "nearly N" up to 10% below it.
APPROXIMATION = 0.1


@dataclass(frozen=True)
class Reading:
    lower: int
    upper: int | None  # None: open-ended ("more than 200")
    approximate: bool = False  # "about N": the source gave N as an approximation


@dataclass(frozen=True)
class Comparative:
    meaning: str  # as published: "more than N" reads as N+1 and up
    phrases: tuple[str, ...]  # "{n}" marks where the number stands
    read: Callable[[int], Reading]


COMPARATIVES = (
    Comparative(
        "more than N: from N+1, open-ended",
        ("more than {n}", "over {n}", "более {n}", "больше {n}", "свыше {n}", "{n}дан ашык", "{n}дөн ашык"),
        lambda n: Reading(n + 1, None),
    ),
    Comparative(
        "at least N: from N, open-ended",
        ("at least {n}", "не менее {n}", "по меньшей мере {n}", "как минимум {n}", "кеминде {n}"),
        lambda n: Reading(n, None),
    ),
    Comparative("up to N: from 0 to N", ("up to {n}", "до {n}"), lambda n: Reading(0, n)),
    Comparative(
        "about N: within 10% of N, marked approximate",
        ("about {n}", "around {n}", "approximately {n}", "около {n}", "примерно {n}", "болжол менен {n}"),
        lambda n: Reading(round(n * (1 - APPROXIMATION)), round(n * (1 + APPROXIMATION)), approximate=True),
    ),
    Comparative(
        "nearly N: from 10% below N to N",
        ("nearly {n}", "almost {n}", "почти {n}", "{n}гө жакын", "{n}га жакын", "дээрлик {n}"),  # noqa: RUF001 (Kyrgyz)
        lambda n: Reading(round(n * (1 - APPROXIMATION)), n),
    ),
)

# A whole number, with or without thousands separators: 1200, 1,200, 1 200 (any space: `normalise` makes it one).
_NUMBER = r"(\d{1,3}(?:[, ]\d{3})+|\d+)"


def _pattern(phrase: str) -> re.Pattern[str]:
    before, after = phrase.split("{n}")
    # A Kyrgyz suffix may follow the number with or without a hyphen: "200дөн", "200-дөн".
    hyphen = "-?" if after[:1].isalpha() else ""
    return re.compile(rf"^{re.escape(before)}{_NUMBER}{hyphen}{re.escape(after)}$")


_PATTERNS = [(_pattern(phrase), c) for c in COMPARATIVES for phrase in c.phrases]


def normalise(text: str) -> str:
    """For lookup only: case-folded, runs of spaces made one."""
    return " ".join(text.casefold().split())


def read(text: str) -> Reading | None:
    """The bounds the words imply, or None when they are not in the vocabulary."""
    words = normalise(text)
    if words in VAGUE_WORDS:
        return Reading(*VAGUE_WORDS[words])
    for pattern, comparative in _PATTERNS:
        found = pattern.match(words)
        if found:
            reading = comparative.read(min(int(re.sub(r"\D", "", found.group(1))), MAX_COUNT))
            # bounds are stored as counts: never past the largest one
            return replace(reading, lower=min(reading.lower, MAX_COUNT), upper=_capped(reading.upper))
    return None


def _capped(bound: int | None) -> int | None:
    return None if bound is None else min(bound, MAX_COUNT)


def published() -> dict[str, JsonValue]:
    """The vocabulary as the JSON Schema publishes it."""
    return {
        "vague_words": {word: {"lower": lower, "upper": upper} for word, (lower, upper) in VAGUE_WORDS.items()},
        "comparatives": [{"meaning": c.meaning, "phrases": list(c.phrases)} for c in COMPARATIVES],
    }
