"""The latency histogram: bounded memory, 2% quantiles, exact merges."""

from __future__ import annotations

import random

import pytest

from poise.observe.histogram import BUCKETS, RELATIVE_ACCURACY, LatencyHistogram


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize(
    "distribution",
    [
        pytest.param(lambda r: r.lognormvariate(-5, 1.5), id="lognormal"),
        pytest.param(lambda r: r.expovariate(100), id="exponential"),
        pytest.param(lambda r: r.uniform(0.001, 0.002), id="narrow uniform"),
        pytest.param(lambda r: r.choice([0.001, 0.5]), id="bimodal"),
    ],
)
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_quantiles_within_relative_accuracy(distribution: object, q: float) -> None:
    rng = random.Random(7)
    values = [distribution(rng) for _ in range(20_000)]  # type: ignore[operator]
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    estimate = histogram.quantile(q)
    assert estimate is not None
    truth = exact_quantile(values, q)
    assert abs(estimate - truth) <= RELATIVE_ACCURACY * truth + 1e-12


def test_memory_is_fixed_and_range_is_clamped() -> None:
    histogram = LatencyHistogram()
    for value in (-1.0, 0.0, 1e-9, 5e4, float("inf")):
        histogram.record(value)
    assert len(histogram.counts) == BUCKETS
    assert histogram.count == 5
    assert histogram.quantile(0.0) == 0.0
    # Values above the range land in the last bucket; max keeps the true value.
    assert histogram.max == float("inf")


def test_empty_and_bad_quantiles() -> None:
    histogram = LatencyHistogram()
    assert histogram.quantile(0.5) is None
    assert histogram.mean is None
    with pytest.raises(ValueError, match="within"):
        histogram.quantile(1.5)


def test_merge_equals_recording_everything_in_one() -> None:
    rng = random.Random(3)
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(5000):
        value = rng.expovariate(50)
        (a if i % 2 else b).record(value)
        both.record(value)
    a.merge(b)
    assert a.counts == both.counts
    assert a.count == both.count
    assert a.sum == pytest.approx(both.sum)
    assert a.max == both.max
    assert a.quantile(0.99) == both.quantile(0.99)


def test_quantile_never_exceeds_max() -> None:
    histogram = LatencyHistogram()
    histogram.record(0.0101)
    assert histogram.quantile(1.0) == pytest.approx(0.0101, rel=RELATIVE_ACCURACY)
    assert histogram.quantile(1.0) <= 0.0101  # type: ignore[operator]
