"""Where log lines go: the process's stderr as it is when each line is written."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from services.common.logging import configure_logging


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """The process's logging as it was, for the tests after this one."""
    before, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**before)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_line_goes_to_stderr_as_it_is_when_written_not_as_it_was_when_set_up(
    logging_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_setup, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", at_setup)
    configure_logging("INFO", "json")
    monkeypatch.setattr(sys, "stderr", later)
    at_setup.close()  # as pytest closes a finished test's captured stderr

    structlog.get_logger("test").warning("written later")
    logging.getLogger("uvicorn.error").warning("from the standard library")

    assert '"event": "written later"' in later.getvalue()
    assert '"event": "from the standard library"' in later.getvalue()
