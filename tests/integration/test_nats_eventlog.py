"""The NATS event log keeps its promises on a real nats-server: dedupe, refused ids, expected positions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.common.settings import Settings
from services.ingest.nats_eventlog import NatsEventLog
from tests.eventlog_contract import EventLogContract


class TestNatsEventLog(EventLogContract):
    @pytest.fixture
    async def event_log(self, settings: Settings, stream: None) -> AsyncIterator[NatsEventLog]:
        log = NatsEventLog(settings)
        await log.start()
        try:
            yield log
        finally:
            await log.stop()
