"""Run `crisis` commands in-process against the test servers, as an operator would."""

from __future__ import annotations

import asyncio
from unittest.mock import patch

from typer.testing import CliRunner, Result

from services.cli import app
from services.common.settings import Settings


async def crisis(settings: Settings, *args: str) -> Result:
    """Invoke the CLI in a thread (it runs its own event loop) with the test's servers in the environment.

    The CLI's logging setup is left out: it would cache structlog loggers process-wide, and tests that capture
    logs (structlog.testing.capture_logs) would then see nothing."""
    env = {"CRISIS_NATS_URL": settings.nats_url or "", "CRISIS_DATABASE_URL": settings.database_url or ""}
    with patch("services.cli.app.configure_logging"):
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env, catch_exceptions=False)
