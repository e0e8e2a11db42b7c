"""benchmarks.catchup's marks: when a count was crossed, between two samples of the checkpoint a poll apart."""

from pytest import approx

from benchmarks.catchup import Sample, cpu_ms_per_event, crossed, rate


def test_a_mark_between_two_samples_is_crossed_in_proportion() -> None:
    samples = [Sample(0.0, 0), Sample(1.0, 500, 90.0, 0.2), Sample(2.0, 1500, 91.0, 0.6)]

    at = crossed(samples, 1000)  # half-way from 500 to 1500

    assert (at.events, at.rss_mb) == (1000, 91.0)
    assert (at.seconds, at.cpu_s) == approx((1.5, 0.4))
    assert rate(samples[0], at) == approx(1000 / 1.5)
    assert cpu_ms_per_event(samples[1], at) == approx(1000 * 0.2 / 500)


def test_a_mark_reached_exactly_or_by_the_first_sample_takes_that_sample() -> None:
    samples = [Sample(0.0, 0), Sample(1.0, 500, 90.0, 0.2), Sample(2.0, 1500, 91.0, 0.6)]

    assert crossed(samples, 500) == samples[1]
    assert crossed(samples, 0) == samples[0]
