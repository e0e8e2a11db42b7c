"""Reports of the future are refused: an event cannot have happened, or been reported, after now.

A small allowance (`CRISIS_CLOCK_SKEW_S`, default 5 minutes) absorbs clients whose clocks run a little fast. Only
the envelope's times are checked (`occurred_at`, `reported_at`): a payload may rightly name a future time, e.g.
the end of a state of emergency.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas.envelope import EventSubmission

Loc = list[str | int]

EVENT_TIMES = ("occurred_at", "reported_at")


def latest_allowed(now: datetime, skew_s: float) -> datetime:
    return now + timedelta(seconds=skew_s)


def future_timestamp_errors(submission: EventSubmission[Any], latest: datetime, loc: Loc) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for name in EVENT_TIMES:
        when: datetime | None = getattr(submission, name)
        if when is not None and when > latest:
            msg = f"lies in the future: {when.isoformat()} is after {latest.isoformat()} (now plus the allowed skew)"
            errors.append({"loc": [*loc, name], "msg": msg, "type": "datetime_future"})
    return errors
