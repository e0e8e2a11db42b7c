"""The in-memory event log keeps the promises of the NATS log (the same suite runs on nats-server in integration/)."""

from __future__ import annotations

import pytest

from tests.eventlog_contract import EventLogContract
from tests.fake_eventlog import InMemoryEventLog


class TestInMemoryEventLog(EventLogContract):
    @pytest.fixture
    def event_log(self) -> InMemoryEventLog:
        return InMemoryEventLog()
