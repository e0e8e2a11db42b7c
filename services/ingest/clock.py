"""Timestamps from the future are refused: a report cannot describe what has not happened yet.

A small allowance (`CRISIS_CLOCK_SKEW_S`, default 5 minutes) absorbs clients whose clocks run a little fast.
Every timestamp of a submission is checked, the envelope's and the payload's alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

Loc = list[str | int]


def _timestamps(value: Any, loc: Loc) -> Iterator[tuple[Loc, datetime]]:
    if isinstance(value, datetime):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _timestamps(getattr(value, name), [*loc, name])
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _timestamps(item, [*loc, index])


def latest_allowed(now: datetime, skew_s: float) -> datetime:
    return now + timedelta(seconds=skew_s)


def future_timestamp_errors(submission: BaseModel, latest: datetime, loc: Loc) -> list[dict[str, Any]]:
    return [
        {
            "loc": where,
            "msg": f"lies in the future: {when.isoformat()} is after {latest.isoformat()} (now plus the allowed skew)",
            "type": "datetime_future",
        }
        for where, when in _timestamps(submission, loc)
        if when > latest
    ]
