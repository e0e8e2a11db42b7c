"""Times in answers, one format everywhere: RFC 3339, UTC written `Z`, fractions of a second only when there are.

A time the system set (recorded_at, as_of, updated_at) is given in UTC, whatever the database session's TimeZone.
A time the source gave (occurred_at, reported_at) keeps the source's UTC offset, so that a day-precision event at
local midnight (`2021-03-19T00:00:00+06:00`) reads as the day the source meant, not the evening before in UTC.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, model_validator


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]
# Read from the stored envelope's text, not from a timestamptz column (which keeps the instant, not the offset).
SourceTime = AwareDatetime


def rfc3339(moment: datetime) -> str:
    """The format of every time in an answer, for the answers pydantic does not write (CSV, GeoJSON)."""
    text = moment.isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def offset_minutes(moment: datetime | None) -> int | None:
    """The UTC offset a time was given with, in minutes, for a column beside its timestamptz."""
    offset = None if moment is None else moment.utcoffset()
    return None if offset is None else int(offset.total_seconds()) // 60


class GivenOffsets(BaseModel):
    """A read-model row whose source times (`<name>_at`) come with the offsets they were given in
    (`<name>_offset_min`, null for rows written before offsets were kept): read back at that offset."""

    @model_validator(mode="after")
    def _at_the_given_offsets(self) -> Self:
        for field, offset in _offset_fields(type(self)):
            minutes, moment = getattr(self, offset), getattr(self, field)
            if isinstance(minutes, int) and moment is not None:
                object.__setattr__(self, field, moment.astimezone(timezone(timedelta(minutes=minutes))))
        return self


@functools.cache
def _offset_fields(row: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """A row class's (`<name>_at`, `<name>_offset_min`) pairs, found once per class: looked for among every field
    of every row, they cost more than validating the row (a year of a country's figures, 3,000 rows, read them)."""
    suffix = "_offset_min"
    return tuple((f"{name.removesuffix(suffix)}_at", name) for name in row.model_fields if name.endswith(suffix))
