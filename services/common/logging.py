"""structlog for every process: JSON when not on a terminal, readable otherwise.

The standard library's loggers (uvicorn, faststream, nats) are routed through the same processors, and
`bind_correlation_id` puts the request's correlation id into every line logged while handling it.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from schemas.headers import CORRELATION

CORRELATION_HEADER = CORRELATION  # on HTTP requests and answers, as on the stream's messages


def configure_logging(level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # A line below the level is dropped first, before the other processors (the timestamp, the context) run
        # for nothing: 2-3% of single-event ingest's CPU went to its "events accepted" line at WARNING.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn and faststream install their own handlers; make them propagate to ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # uvicorn formats an access line's arguments for every request whenever its logger has a handler, even one the
    # level drops (about 1% of single-event ingest's CPU at WARNING); with no handler to reach, it skips them.
    access = logging.getLogger("uvicorn.access")
    access.propagate = access.isEnabledFor(logging.INFO)
    # faststream narrates its task bookkeeping at INFO; keep its warnings and errors unless debugging.
    logging.getLogger("faststream").setLevel(max(root.level, logging.WARNING))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """To `sys.stderr` as it is when the line is written, not as it was when logging was set up: a test's captured
    stderr is closed after the test, and a handler holding it failed every later line ("I/O operation on closed
    file") for the rest of the run. A process's own stderr does not change, so services see no difference."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def bind_correlation_id(correlation_id: str | None) -> None:
    structlog.contextvars.clear_contextvars()
    if correlation_id:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
