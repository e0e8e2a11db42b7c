"""What every layer can store and read back: the window of times and dates, and the range of counts.

A value ingest accepts travels through Python datetime arithmetic, JSON, PostgreSQL (`timestamptz`, `integer`)
and back out through the query API. Outside these bounds one of them fails (a year-1 time with a +14:00 offset is
a BC timestamp in PostgreSQL; a count of 2^31 does not fit an `integer` column), so the contract refuses them,
and publishes the bounds in its JSON Schema.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
END = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
# The widest offsets in use (UTC-12:00 to UTC+14:00), with room; PostgreSQL refuses offsets past 15:59.
MAX_OFFSET = timedelta(hours=14)
# Counts are stored in PostgreSQL `integer` columns.
MAX_COUNT = 2**31 - 1

WINDOW = f"from {EARLIEST.isoformat()} (inclusive) to {END.isoformat()} (exclusive), in UTC"
# A looser published check than the validator (the year before conversion to UTC may lie one year outside the
# window), so that every accepted value passes it; the exact window is in the description and formatMinimum.
_YEARS = r"(1899|19[0-9]{2}|20[0-9]{2}|2100)"
_OFFSET = r"(Z|z|[+-](0[0-9]|1[0-4]):[0-5][0-9])"


# RFC 3339 allows a leap second (`23:59:60Z`); Python, PostgreSQL and JSON readers cannot hold one.
_LEAP_SECOND = re.compile(r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}):60(?:\.\d+)?(?=([Zz]|[+-]\d{2}:\d{2})$)")
LEAP_SECOND_RULE = "A leap second (23:59:60) is accepted and read as the last microsecond before it (23:59:59.999999)."


def _leap_second(value: object) -> object:
    # The substring test first: every time of every decoded event passes here, and a regex substitution costs more.
    return _LEAP_SECOND.sub(r"\1:59.999999", value) if isinstance(value, str) and ":60" in value else value


# Years whose every time lies inside the window at any offset up to ±14:00.
_INSIDE_YEARS = range(EARLIEST.year + 1, END.year - 1)


def _within_window(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise ValueError(f"UTC offset {value.isoformat()[19:].lstrip('.0123456789')} is beyond ±14:00")
    # Every time of every decoded event passes here: the comparisons, which ask the time zone for its offset
    # again each (most of a time's validation), only near the window's ends.
    if value.year not in _INSIDE_YEARS and not EARLIEST <= value < END:
        raise ValueError(f"must lie {WINDOW}")
    return value


def _within_years(value: date) -> date:
    if not EARLIEST.date() <= value < END.date():
        raise ValueError(f"must lie from {EARLIEST.date()} to {END.date()} (exclusive)")
    return value


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_leap_second),
    AfterValidator(_within_window),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": rf"^{_YEARS}-.*{_OFFSET}$",
            "formatMinimum": EARLIEST.isoformat(),
            "formatExclusiveMaximum": END.isoformat(),
            "description": f"ISO 8601 with a UTC offset (at most ±14:00), {WINDOW}. {LEAP_SECOND_RULE}",
        }
    ),
]
Day = Annotated[
    date,
    AfterValidator(_within_years),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": r"^(19|20)[0-9]{2}-",
            "formatMinimum": EARLIEST.date().isoformat(),
            "formatExclusiveMaximum": END.date().isoformat(),
        }
    ),
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
