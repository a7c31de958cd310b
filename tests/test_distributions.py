"""Latency and length distributions: seeded, reproducible, and shaped as configured."""

from __future__ import annotations

import random
import statistics

import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from gatedrill.fakes.distributions import Distribution

ADAPTER: TypeAdapter = TypeAdapter(Distribution)


def samples(spec: object, n: int = 4000, seed: int = 7) -> list[float]:
    dist = ADAPTER.validate_python(spec)
    rng = random.Random(seed)
    return [dist.sample(rng) for _ in range(n)]


def test_a_bare_number_means_fixed() -> None:
    assert set(samples(250, n=10)) == {250}


def test_same_seed_gives_the_same_sequence() -> None:
    spec = {"dist": "lognormal", "median": 200, "sigma": 0.5}
    assert samples(spec, seed=3) == samples(spec, seed=3)
    assert samples(spec, seed=3) != samples(spec, seed=4)


def test_uniform_fills_its_range_evenly() -> None:
    xs = samples({"dist": "uniform", "low": 10, "high": 20})
    assert min(xs) >= 10 and max(xs) <= 20
    assert stats.kstest(xs, stats.uniform(loc=10, scale=10).cdf).pvalue > 1e-3


def test_normal_is_clipped_at_zero_and_matches_its_moments() -> None:
    xs = samples({"dist": "normal", "mean": 100, "sd": 10})
    assert abs(statistics.mean(xs) - 100) < 1.5
    assert abs(statistics.stdev(xs) - 10) < 1.0
    assert min(samples({"dist": "normal", "mean": 1, "sd": 10})) >= 0


def test_lognormal_has_the_stated_median() -> None:
    xs = samples({"dist": "lognormal", "median": 300, "sigma": 0.8})
    assert abs(statistics.median(xs) - 300) / 300 < 0.08
    assert stats.kstest(xs, stats.lognorm(s=0.8, scale=300).cdf).pvalue > 1e-3


def test_percentiles_reproduce_the_given_quantiles() -> None:
    xs = sorted(samples({"dist": "percentiles", "points": {"p50": 200, "p90": 450, "p99": 1200}}, n=20000))
    q = lambda p: xs[int(p * len(xs))]  # noqa: E731
    assert abs(q(0.50) - 200) < 15
    assert abs(q(0.90) - 450) < 30
    assert max(xs) <= 1200


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"dist": "uniform", "low": 5, "high": 1}, "low <= high"),
        ({"dist": "percentiles", "points": {"p50": 300, "p90": 100}}, "must not decrease"),
        ({"dist": "percentiles", "points": {"median": 3}}, "look like p50"),
        ({"dist": "gamma", "k": 2}, "dist"),
        ({"dist": "fixed", "value": -1}, "greater than or equal"),
        ({"dist": "fixed", "value": 1, "extra": 2}, "Extra inputs"),
    ],
)
def test_invalid_distributions_are_rejected_with_a_reason(spec: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ADAPTER.validate_python(spec)
    assert fragment in str(exc.value)
