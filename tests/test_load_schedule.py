"""The arrival schedule: achieved arrivals match each profile, by statistical tests; seeds reproduce."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from gatedrill.harness.load.schedule import arrival_list, expected_arrivals, rate_at, segments
from gatedrill.harness.load.spec import Constant, Poisson, Ramp, Soak, Spike, Step, Steps

ALPHA = 1e-3  # a correct generator fails one of these tests about once in a thousand seeds


def _counts_per_second(times: list[float], duration: int) -> np.ndarray:
    return np.bincount(np.floor(times).astype(int), minlength=duration)[:duration]


def test_poisson_gaps_are_exponential_with_the_given_rate():
    rate = 200.0
    times = arrival_list(Poisson(profile="poisson", rate=rate), 60, seed=7)
    gaps = np.diff([0.0, *times])
    assert stats.kstest(gaps, "expon", args=(0, 1 / rate)).pvalue > ALPHA


def test_poisson_counts_per_second_are_poisson_distributed():
    rate, duration = 50.0, 200
    counts = _counts_per_second(arrival_list(Poisson(profile="poisson", rate=rate), duration, seed=3), duration)
    # Total count: Poisson(rate * duration).
    total = counts.sum()
    assert stats.poisson(rate * duration).cdf(total) > ALPHA / 2
    assert stats.poisson(rate * duration).sf(total - 1) > ALPHA / 2
    # Binned counts against the Poisson pmf with a chi-square goodness of fit.
    edges = [0, 40, 44, 47, 50, 53, 56, 60, 10**6]
    observed = np.histogram(counts, bins=edges)[0]
    dist = stats.poisson(rate)
    expected = np.array([dist.cdf(b - 1) - dist.cdf(a - 1) for a, b in itertools.pairwise(edges)]) * duration
    assert expected.min() >= 5
    assert stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > ALPHA


def test_soak_is_poisson_at_its_rate():
    times = arrival_list(Soak(profile="soak", rate=30), 100, seed=11)
    gaps = np.diff([0.0, *times])
    assert stats.kstest(gaps, "expon", args=(0, 1 / 30)).pvalue > ALPHA


def test_ramp_puts_the_expected_share_in_each_half():
    ramp = Ramp(profile="ramp", from_rate=10, to_rate=90)
    duration = 60
    times = arrival_list(ramp, duration, seed=5)
    n = len(times)
    first = sum(1 for t in times if t < duration / 2)
    p_first = expected_arrivals(ramp, duration, 0, duration / 2) / expected_arrivals(ramp, duration)
    assert p_first == pytest.approx(0.3)  # (10 + 50) / 2 * 30 = 900 of (10 + 90) / 2 * 60 = 3000
    assert stats.binomtest(first, n, p_first).pvalue > ALPHA
    assert stats.poisson(expected_arrivals(ramp, duration)).sf(n - 1) > ALPHA / 2


def test_ramp_arrivals_rescaled_by_the_integrated_rate_are_a_unit_poisson_process():
    ramp = Ramp(profile="ramp", from_rate=100, to_rate=0)  # falling to zero: the inversion's hard case
    duration = 40
    times = arrival_list(ramp, duration, seed=9)
    big_lambda = [expected_arrivals(ramp, duration, 0, t) for t in times]
    gaps = np.diff([0.0, *big_lambda])
    assert stats.kstest(gaps, "expon").pvalue > ALPHA
    assert max(times) < duration


def test_constant_is_evenly_spaced_and_exact():
    times = arrival_list(Constant(profile="constant", rate=40), 10, seed=1)
    assert len(times) == 400
    assert np.allclose(np.diff(times), 1 / 40)
    assert times[0] == 0


def test_steps_hold_exactly_rate_times_duration_arrivals_and_the_last_step_holds():
    steps = Steps(profile="steps", steps=[Step(rate=10, duration_s=3), Step(rate=0, duration_s=2),
                                           Step(rate=25, duration_s=1)])
    times = arrival_list(steps, 10, seed=0)
    assert sum(1 for t in times if t < 3) == 30
    assert sum(1 for t in times if 3 <= t < 5) == 0
    assert sum(1 for t in times if t >= 5) == 25 * 5  # the last step runs to the end
    assert len(times) == 155
    assert rate_at(steps, 10, 4.0) == 0 and rate_at(steps, 10, 9.0) == 25


def test_steps_longer_than_the_run_are_cut_at_its_end():
    steps = Steps(profile="steps", steps=[Step(rate=5, duration_s=4), Step(rate=50, duration_s=100)])
    times = arrival_list(steps, 6, seed=0)
    assert len(times) == 5 * 4 + 50 * 2
    assert max(times) < 6


def test_spike_concentrates_arrivals_in_its_window():
    spike = Spike(profile="spike", base_rate=10, spike_rate=200, at_s=20, duration_s=5)
    duration = 60
    times = arrival_list(spike, duration, seed=4)
    inside = sum(1 for t in times if 20 <= t < 25)
    p_inside = expected_arrivals(spike, duration, 20, 25) / expected_arrivals(spike, duration)
    assert expected_arrivals(spike, duration) == pytest.approx(10 * 55 + 200 * 5)
    assert stats.binomtest(inside, len(times), p_inside).pvalue > ALPHA


def test_the_same_seed_gives_the_same_schedule_and_another_seed_does_not():
    prof = Poisson(profile="poisson", rate=100)
    a = arrival_list(prof, 5, seed=42)
    assert a == arrival_list(prof, 5, seed=42)
    assert a != arrival_list(prof, 5, seed=43)
    ramp = Ramp(profile="ramp", from_rate=0, to_rate=100)
    assert arrival_list(ramp, 5, seed=1) == arrival_list(ramp, 5, seed=1)


@pytest.mark.parametrize("profile", [
    Constant(profile="constant", rate=7),
    Poisson(profile="poisson", rate=7),
    Ramp(profile="ramp", from_rate=0, to_rate=14),
    Steps(profile="steps", steps=[Step(rate=3, duration_s=1), Step(rate=9, duration_s=1)]),
    Spike(profile="spike", base_rate=1, spike_rate=50, at_s=1, duration_s=0.5),
])
def test_arrivals_are_increasing_and_inside_the_run(profile):
    times = arrival_list(profile, 3, seed=2)
    assert times == sorted(times)
    assert all(0 <= t < 3 for t in times)


def test_segments_cover_the_run_and_integrate_to_the_mean_rate():
    ramp = Ramp(profile="ramp", from_rate=2, to_rate=4)
    (seg,) = segments(ramp, 10)
    assert (seg.start, seg.end) == (0, 10)
    assert expected_arrivals(ramp, 10) == pytest.approx(30)
    assert math.isclose(rate_at(ramp, 10, 5), 3)
