"""A CSV export reads most payloads' columns (actors, their ids, the figures, the description) straight from their
stored JSON, without validating them through their contract class: for every type it does that for, and any
payload of it (generated from the type's JSON Schema, as the projector would store it), the columns are those the
contract class gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.catalogue import EVENT_TYPES
from schemas.events.base import EventPayload
from schemas.events.casualties import CasualtiesReported
from schemas.events.political import StatementIssued
from services.domain.actor_refs import stored_ref_fields
from services.query import exports
from tests.integration.test_accepted_events_are_readable import strategy

# The types whose actors lie in fields of their own (or that name none), the casualty reports' figures aside
READ_AS_STORED = {
    name for name, cls in EVENT_TYPES.items() if cls is not CasualtiesReported and stored_ref_fields(cls) is not None
}


def payloads(cls: type[EventPayload]) -> st.SearchStrategy[dict[str, Any]]:
    schema = cls.model_json_schema()
    return strategy(schema, schema.get("$defs", {}))


def test_a_payload_with_its_own_account_is_read_as_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"StatementIssued", "PersonDetained", "BodyFormed", "ProtestReported"} <= READ_AS_STORED
    speaker = {"id": "almazbek-atambayev", "name": "Almazbek Atambayev", "kind": "person"}
    stored = StatementIssued.model_validate({"speaker": speaker, "quote": "Stay calm."}).model_dump_json()

    def unread(*_: object) -> None:
        raise AssertionError("validated through its contract class")

    monkeypatch.setattr(exports, "parse_stored_payload", unread)
    columns, account = exports._payload_values("StatementIssued", 2, stored)
    assert columns[:2] == ["speaker: Almazbek Atambayev", "almazbek-atambayev"] and account == "Stay calm."


@pytest.mark.parametrize("event_type", sorted(READ_AS_STORED))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_columns_read_from_the_stored_json_are_the_contract_classes(event_type: str, data: st.DataObject) -> None:
    cls = EVENT_TYPES[event_type]
    try:
        payload = cls.model_validate(data.draw(payloads(cls)))
    except ValidationError:
        assume(False)
        raise
    stored = payload.model_dump_json()
    assert exports._payload_values(event_type, cls.schema_version, stored) == exports._model_values(
        event_type, cls.schema_version, stored
    )
