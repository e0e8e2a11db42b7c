"""benchmarks.catchup's marks: when a count was crossed, between two samples of the checkpoint a poll apart."""

import os
import subprocess
import sys
import time

import psutil
from pytest import approx

from benchmarks.catchup import (
    Sample,
    cpu_ms_per_event,
    cpu_used_since,
    crossed,
    pg_ms_per_event,
    process_kind,
    rate,
    server_cpu_by_process,
    server_cpu_s,
)


def test_a_mark_between_two_samples_is_crossed_in_proportion() -> None:
    samples = [Sample(0.0, 0), Sample(1.0, 500, 90.0, 0.2, 0.3), Sample(2.0, 1500, 91.0, 0.6, 1.1)]

    at = crossed(samples, 1000)  # half-way from 500 to 1500

    assert (at.events, at.rss_mb) == (1000, 91.0)
    assert (at.seconds, at.cpu_s, at.pg_cpu_s) == approx((1.5, 0.4, 0.7))
    assert rate(samples[0], at) == approx(1000 / 1.5)
    assert cpu_ms_per_event(samples[1], at) == approx(1000 * 0.2 / 500)
    assert pg_ms_per_event(samples[1], at) == approx(1000 * 0.4 / 500)


def test_a_mark_reached_exactly_or_by_the_first_sample_takes_that_sample() -> None:
    samples = [Sample(0.0, 0), Sample(1.0, 500, 90.0, 0.2), Sample(2.0, 1500, 91.0, 0.6)]

    assert crossed(samples, 500) == samples[1]
    assert crossed(samples, 0) == samples[0]


BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_a_servers_cpu_counts_its_children_live_and_exited() -> None:
    """The postmaster's backends and autovacuum workers come and go: what one used before it exited still counts."""
    server = psutil.Process(os.getpid())
    before, kinds_before = server_cpu_s(server), server_cpu_by_process(server)

    subprocess.run([sys.executable, "-c", BUSY], check=True)  # exited, and reaped
    with subprocess.Popen([sys.executable, "-c", BUSY + "\ntime.sleep(30)"]) as live:
        while sum(psutil.Process(live.pid).cpu_times()[:2]) < 0.25:  # the test's timeout bounds this wait
            time.sleep(0.01)
        used, by_kind = server_cpu_s(server) - before, cpu_used_since(kinds_before, server_cpu_by_process(server))
        live_kind = process_kind(psutil.Process(live.pid))
        live.kill()

    assert used >= 0.5
    assert dict(by_kind)["exited"] >= 0.25
    assert dict(by_kind)[live_kind] >= 0.25
