"""The one rule for which version of a report counts: the version recorded last, unless the report is retracted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.domain.reports import current_versions, latest_versions

T0 = datetime(2020, 10, 6, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    version_of: UUID
    recorded_at: datetime
    stream_seq: int
    verification: str = "reported"


def test_the_version_recorded_last_is_current_whatever_order_the_rows_come_in() -> None:
    report = uuid.uuid4()
    original, correction = Row(report, T0, 1), Row(report, T0 + timedelta(hours=1), 7)
    assert current_versions([correction, original]) == [correction]
    assert latest_versions([original]) == {report: original}  # as of a time before the correction


def test_the_same_moment_is_ordered_by_stream_position() -> None:
    report = uuid.uuid4()
    first, second = Row(report, T0, 3), Row(report, T0, 4)
    assert current_versions([second, first]) == [second]


def test_a_retracted_report_does_not_count_but_others_do() -> None:
    kept, retracted = uuid.uuid4(), uuid.uuid4()
    rows = [Row(kept, T0, 1, "disputed"), Row(retracted, T0, 2, "retracted")]
    assert current_versions(rows) == [rows[0]]
    assert set(latest_versions(rows)) == {kept, retracted}  # the history keeps it
