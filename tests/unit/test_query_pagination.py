"""Opaque cursors: a cursor round-trips its sort key, and anything else is a MalformedCursor."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import AwareDatetime

from schemas.values import Slug
from services.query.pagination import Cursor, MalformedCursor, next_page

INCIDENT: Cursor[tuple[str]] = Cursor(tuple[Slug])
TIMELINE: Cursor[tuple[datetime, int]] = Cursor(tuple[AwareDatetime, int])


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_timeline_key_round_trips_to_the_microsecond_and_instant() -> None:
    key = (datetime(2020, 10, 6, 5, 0, 0, 123456, tzinfo=timezone(timedelta(hours=6))), 2**40)
    decoded = TIMELINE.decode(TIMELINE.encode(key))
    assert decoded == key
    assert decoded[0].utcoffset() is not None


def test_incident_key_round_trips() -> None:
    assert INCIDENT.decode(INCIDENT.encode(("kg-2020-election",))) == ("kg-2020-election",)


def test_cursor_is_url_safe_and_unpadded() -> None:
    # Keys chosen so that standard base64 would need '+', '/' or '=' padding.
    for key in [("a",), ("ab",), ("z" * 64,), ("abc-def-ghi",)]:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", INCIDENT.encode(key))
    cursor = TIMELINE.encode((datetime(2020, 10, 5, 23, 59, 59, 999999, tzinfo=UTC), 63))
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)


def test_padded_cursor_is_accepted_too() -> None:
    assert INCIDENT.decode(b64(b'["ab"]')) == ("ab",)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("!!!!", id="not-base64"),
        pytest.param("a", id="truncated-base64"),
        pytest.param("WyJhYiJd\u00e9", id="non-ascii"),
        pytest.param(b64(b"\xff\xfe"), id="not-utf8"),
        pytest.param(b64(b"not json"), id="not-json"),
        pytest.param(b64(b'{"incident_id": "ab"}'), id="object-not-key"),
        pytest.param(b64(b'["ab", "cd"]'), id="too-long"),
        pytest.param(b64(b"[]"), id="too-short"),
        pytest.param(b64(b'["Not A Slug"]'), id="not-a-slug"),
        pytest.param(b64(b"[17]"), id="wrong-type"),
    ],
)
def test_malformed_incident_cursors(cursor: str) -> None:
    with pytest.raises(MalformedCursor, match="malformed cursor"):
        INCIDENT.decode(cursor)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'["2020-10-05T18:00:00", 3]', id="naive-datetime"),
        pytest.param(b'["yesterday", 3]', id="not-a-datetime"),
        pytest.param(b'["2020-10-05T18:00:00Z", "three"]', id="seq-not-int"),
        pytest.param(b'["2020-10-05T18:00:00Z"]', id="seq-missing"),
        pytest.param(b'["kg-2020-election"]', id="an-incident-cursor"),
    ],
)
def test_malformed_timeline_cursors(raw: bytes) -> None:
    with pytest.raises(MalformedCursor, match="malformed cursor"):
        TIMELINE.decode(b64(raw))


def test_next_page_with_more_rows_than_the_limit_points_after_the_last_served_row() -> None:
    items, cursor = next_page(["a", "b", "c", "d"], 3, INCIDENT, key=lambda row: (row,))
    assert items == ["a", "b", "c"]
    assert cursor is not None
    assert INCIDENT.decode(cursor) == ("c",)


@pytest.mark.parametrize("rows", [["a", "b", "c"], ["a"], []])
def test_next_page_without_an_extra_row_is_the_last(rows: list[str]) -> None:
    assert next_page(rows, 3, INCIDENT, key=lambda row: (row,)) == (rows, None)
