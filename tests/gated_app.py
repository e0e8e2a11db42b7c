"""An app whose worker processes start one at a time on demand, for the bench's wait for every worker.

Served with `services.common.workers.serve` and several workers: the first worker to claim the gate directory
(`TEST_GATE_DIR`) starts at once, the others only once the test creates `open` in it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.waiting import wait_until

GATE_VARIABLE = "TEST_GATE_DIR"


def create_app() -> Starlette:
    gate = Path(os.environ[GATE_VARIABLE])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            (gate / "claimed").touch(exist_ok=False)  # O_EXCL: one worker claims it
        except FileExistsError:

            async def is_open() -> bool:
                return (gate / "open").exists()

            await wait_until(is_open, bool, within=120, what="the test to open the gate")
        yield

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", ok)], lifespan=lifespan)
