"""Run `crisis` commands in-process against the test servers, as an operator would."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from services.cli import app
from services.common.settings import Settings


async def crisis(settings: Settings, *args: str) -> Result:
    """Invoke the CLI in a thread (it runs its own event loop) with the test's servers in the environment."""
    env = {"CRISIS_NATS_URL": settings.nats_url or "", "CRISIS_DATABASE_URL": settings.database_url or ""}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env, catch_exceptions=False)
