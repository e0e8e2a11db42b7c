"""`crisis bench`: a small run on its own embedded servers gives every figure, it refuses a busy stream, and runs
beside one on a stream of its own (`--stream`), leaving the event stream untouched."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest
from nats.aio.client import Client

from services.common.settings import Settings
from tests.conftest import incident_id
from tests.factories import make_event
from tests.integration.cli_runner import crisis
from tests.integration.test_projector import publish
from tests.waiting import wait_until

FIGURES = {
    "batch ingest", "batch ingest, all in flight", "batch ingest, atomic raw",
    "single ingest x64", "single ingest p50", "single ingest p99",
    "catch-up, all read models",
    "replay all (blue/green)", "freshness p50 @200/s", "freshness p99 @200/s", "timeline x50", "timeline p99 x50",
    "timeline x50 no-cache", "timeline p99 x50 no-cache",
    "projector peak RSS", "PostgreSQL bytes per event", "catch-up at 100 events", "catch-up at 328 events",
    "catch-up, 2 partitions", "catch-up CPU, 2 projectors",
}  # fmt: skip


@pytest.mark.timeout(600)
def test_a_small_bench_reports_every_figure_with_a_positive_ratio_and_the_speed_up_of_partitions(
    tmp_path: Path,
) -> None:
    report = tmp_path / "bench.json"
    argv = ["--events", "200", "--size", "100", "--reads", "100", "--fresh-seconds", "1", "--partitions", "2"]
    argv += ["--json", str(report)]
    # Its own process tree and embedded servers, as an operator runs it; no CRISIS_ URL reaches it.
    done = subprocess.run(
        [sys.executable, "-m", "services", "bench", *argv],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "catch-up, all read models" in done.stdout  # the table

    written = json.loads(report.read_text())
    assert written["run"]["machine"]["cores"] >= 1 and written["run"]["options"]["rounds"] == 3
    assert len(speed := written["run"]["machine"]["python_loop_s"]) == 2 and min(speed) > 0  # before and after
    assert "a loop of 10 million additions" in " ".join(done.stdout.split())  # the title, however it wraps
    figures = {figure["name"]: figure for figure in written["figures"]}
    assert set(figures) == FIGURES
    for name, figure in figures.items():
        assert len(figure["rounds"]["project"]) == 3, name
        assert figure["project"] > 0, name
        if figure["raw_limit_is"] is not None:
            assert len(figure["rounds"]["raw_limit"]) == 3, name
            assert isinstance(figure["ratio"], float) and figure["ratio"] > 0, name


@pytest.mark.usefixtures("stream")
@pytest.mark.timeout(300)
async def test_sigterm_stops_a_bench_with_its_services_and_servers_and_removes_its_scratch_directory(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    bench = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "bench",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    started: list[psutil.Process] = []
    try:
        # its servers and its first service (ingest) up: what a killed bench used to leave running
        started = await wait_until(descendants(bench.pid), services_running, 120, "the bench's servers and ingest")
        bench.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(bench.communicate(), 60)

        assert bench.returncode == 130
        assert "the bench was stopped" in stderr.decode()
        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == []
        assert list(scratch.iterdir()) == []
    finally:  # what a failed run left behind
        if bench.returncode is None:
            bench.kill()
        for process in started:
            with contextlib.suppress(psutil.Error):
                process.kill()


def descendants(pid: int) -> Callable[[], Awaitable[list[psutil.Process]]]:
    async def probe() -> list[psutil.Process]:
        return psutil.Process(pid).children(recursive=True)

    return probe


def services_running(processes: list[psutil.Process]) -> bool:
    command_lines = []
    for process in processes:
        with contextlib.suppress(psutil.Error):  # one that has just exited
            command_lines.append(" ".join(process.cmdline()))
    running = " ".join(command_lines)
    return "nats-server" in running and "postgres" in running and "services ingest" in running


async def test_bench_refuses_a_stream_that_holds_events(nc: Client, settings: Settings) -> None:
    await publish(nc, [make_event(incident_id())])

    refused = await crisis(settings, "bench", "--events", "200")

    assert refused.exit_code == 2
    assert "already holds 1 events" in refused.output and "embedded servers" in refused.output
    assert (await nc.jetstream().stream_info("CRISIS_EVENTS")).state.messages == 1  # untouched


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("stream")
async def test_bench_runs_beside_a_busy_stream_on_one_of_its_own(nc: Client, settings: Settings) -> None:
    """... with ingest and query served by two worker processes each, as the title says."""
    js = nc.jetstream()
    await publish(nc, [make_event(incident_id())])
    before = (await js.stream_info("CRISIS_EVENTS")).state
    name = f"BENCH_{uuid.uuid4().hex[:6].upper()}"
    argv = ["--events", "100", "--size", "300", "--reads", "50", "--fresh-seconds", "1", "--stream", name]
    workers = ["--ingest-workers", "2", "--query-workers", "2"]

    done = await crisis(settings, "bench", *argv, *workers)

    assert done.exit_code == 0, done.output[-3000:]
    assert "catch-up, all read models" in done.output
    assert "ingest x2, query x2 worker process(es)" in " ".join(done.output.split())
    after = (await js.stream_info("CRISIS_EVENTS")).state
    assert (after.messages, after.last_seq, after.consumer_count) == (1, before.last_seq, 0)  # untouched
    assert all(info.config.name != name for info in await js.streams_info())  # deleted at the end


@pytest.mark.parametrize("name", ["CRISIS_EVENTS", "crisis_events", "has space"])
async def test_bench_refuses_the_event_stream_or_a_bad_name_for_its_own(settings: Settings, name: str) -> None:
    refused = await crisis(settings, "bench", "--stream", name)

    assert refused.exit_code == 2
    assert f"--stream {name}" in refused.output or f"--stream {name!r}" in refused.output


async def test_fsync_is_refused_for_servers_the_bench_does_not_start(settings: Settings) -> None:
    refused = await crisis(settings, "bench", "--fsync", "relaxed")

    assert refused.exit_code == 2
    assert "--fsync applies to the bench's embedded nats-server" in refused.output
