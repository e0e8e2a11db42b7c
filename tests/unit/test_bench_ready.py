"""`crisis bench` begins a round only once every worker process of a service serves, not just the first one."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.cli.bench.servers import HOST, Child, serving_workers
from services.common.ports import free_port
from tests.gated_app import GATE_VARIABLE
from tests.waiting import wait_until


async def test_a_service_of_two_workers_is_ready_once_both_serve(tmp_path: Path) -> None:
    port = free_port(HOST)
    serve = f"from services.common.workers import serve; serve('tests.gated_app:create_app', '{HOST}', {port}, 2)"
    env = os.environ | {GATE_VARIABLE: str(tmp_path)}
    child = Child("gated", [sys.executable, "-c", serve], env, tmp_path, port, workers=2)
    try:
        ready = asyncio.create_task(child.ready("/"))

        async def serving() -> int:
            return serving_workers(child.process.pid, port)

        await wait_until(serving, lambda n: n == 1, within=60, what="the first worker to serve")
        await asyncio.sleep(0.5)  # the first worker answers meanwhile; the second still waits at the gate
        assert not ready.done()

        (tmp_path / "open").touch()
        await asyncio.wait_for(ready, timeout=60)
        assert await serving() == 2
    finally:
        child.stop()
